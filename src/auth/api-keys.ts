import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'

const PREFIX = 'cg_'

/** A new API key: shown to its owner once, only its hash is stored. */
export function newApiKey (): { key: string, hash: string, prefix: string } {
  const key = PREFIX + randomBytes(32).toString('base64url')
  return { key, hash: hashApiKey(key), prefix: key.slice(0, PREFIX.length + 6) }
}

export function hashApiKey (key: string): string {
  return createHash('sha256').update(key).digest('hex')
}

/** Constant-time comparison of a presented token with the configured one. */
export function sameToken (presented: string, expected: string): boolean {
  return timingSafeEqual(Buffer.from(hashApiKey(presented), 'hex'), Buffer.from(hashApiKey(expected), 'hex'))
}
