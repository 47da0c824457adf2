/** One named check of a stored backup and its outcome, as `verify` prints it. */
export interface Check {
  name: string;
  ok: boolean;
  detail: string;
  /** Not run: this version cannot check it (the content of a kind a newer reshifter wrote); `ok` stays true. */
  skipped?: true;
}
