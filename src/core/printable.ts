/**
 * Text from etcd (key names, object names) as it may be printed to a terminal or a tab-separated listing: control
 * characters (tab and newline too, which would fake columns and lines; ESC, which would drive the terminal) become
 * `\xNN`. Everything else, other scripts included, is left as it is.
 */
export function printable(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}
