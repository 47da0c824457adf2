/** One named check of a stored backup and its outcome, as `verify` prints it. */
export interface Check {
  name: string;
  ok: boolean;
  detail: string;
}
