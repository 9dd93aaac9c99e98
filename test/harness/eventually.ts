// The one way a test waits for something another process, socket or timer brings about: poll,
// and fail with the name of what never came, instead of a bare tap timeout.

export interface EventuallyOptions {
  /** How long to keep asking (default 20 s: a loaded 2-core machine is slow). */
  timeoutMs?: number
  /** Pause between two asks (default 100 ms). */
  intervalMs?: number
}

/**
 * Calls `check` until it returns something other than `undefined` or `false` and resolves with
 * that; after `timeoutMs` rejects with "timed out waiting for <what>". `check` runs at least once.
 */
export async function eventually<T> (what: string, check: () => T | Promise<T>, opts: EventuallyOptions = {}): Promise<Exclude<T, undefined | false>> {
  const { timeoutMs = 20_000, intervalMs = 100 } = opts
  const until = Date.now() + timeoutMs
  for (;;) {
    const value = await check()
    if (value !== undefined && value !== false) return value as Exclude<T, undefined | false>
    if (Date.now() > until) throw new Error(`timed out waiting for ${what} (${timeoutMs} ms)`)
    await new Promise((resolve) => setTimeout(resolve, intervalMs))
  }
}
