import { createHmac } from 'node:crypto'

let lastKey: string | undefined
let lastKeyBytes: Buffer = Buffer.alloc(0)

/**
 * Keyed hash of a phone number (HMAC-SHA-256 of its E.164 form): enough to match opt-outs, call
 * caps and data-subject requests without keeping the number itself. A plain hash would not do:
 * the space of phone numbers is small enough to enumerate.
 */
export function hashNumber (key: string, number: string): string {
  // An installation has one key: encoding it once instead of per call is ~20 % of the cost of a
  // hash, which a screening run of a million numbers pays a million times.
  if (key !== lastKey) { lastKeyBytes = Buffer.from(key); lastKey = key }
  return createHmac('sha256', lastKeyBytes).update(number.trim()).digest('hex')
}
