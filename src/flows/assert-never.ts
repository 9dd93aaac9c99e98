/** Ends every switch over a union, so adding a member is a type error until it is handled. */
export function assertNever (value: never): never {
  throw new Error(`unexpected value: ${JSON.stringify(value)}`)
}
