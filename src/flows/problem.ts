/** One thing wrong with a flow or campaign; `path` is a JSON pointer (RFC 6901) into it. */
export interface Problem {
  path: string;
  message: string;
}

/** Joins segments into a JSON pointer, escaping "~" and "/" as RFC 6901 section 3 requires. */
export function pointer (...segments: Array<string | number>): string {
  return segments.map((s) => '/' + String(s).replaceAll('~', '~0').replaceAll('/', '~1')).join('')
}

/** Problems listed at most in one answer; a flow with more gets a last entry counting the rest. */
export const MAX_PROBLEMS = 100

/**
 * The first MAX_PROBLEMS problems and, when there were more, one saying how many were left out:
 * a generated flow can break a rule at each of thousands of nodes, and listing every one would
 * make the answer grow with the flow's size times the problems' length.
 */
export function capProblems (problems: Problem[]): Problem[] {
  if (problems.length <= MAX_PROBLEMS) return problems
  const omitted = problems.length - MAX_PROBLEMS
  return [
    ...problems.slice(0, MAX_PROBLEMS),
    {
      path: '',
      message: `${omitted.toLocaleString('en')} more problem${omitted === 1 ? '' : 's'} not listed: at most ${MAX_PROBLEMS} are reported at once; fix these and validate again`,
    },
  ]
}

/** A value quoted in a message, cut short so a long one cannot make the message long. */
export function quote (value: string, max = 64): string {
  return `"${value.length <= max ? value : `${value.slice(0, max)}…`}"`
}
