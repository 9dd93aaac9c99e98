/** Time comes from here so tests can fix it; nothing else in the app reads the system clock. */
export interface Clock {
  now (): Date
}

export const systemClock: Clock = { now: () => new Date() }
