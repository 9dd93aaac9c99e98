/** One thing wrong with a flow or campaign; `path` is a JSON pointer (RFC 6901) into it. */
export interface Problem {
  path: string;
  message: string;
}

/** Joins segments into a JSON pointer, escaping "~" and "/" as RFC 6901 section 3 requires. */
export function pointer(...segments: Array<string | number>): string {
  return segments.map((s) => '/' + String(s).replaceAll('~', '~0').replaceAll('/', '~1')).join('');
}
