import { createHmac } from 'node:crypto'

/**
 * Keyed hash of a phone number (HMAC-SHA-256 of its E.164 form): enough to match opt-outs, call
 * caps and data-subject requests without keeping the number itself. A plain hash would not do:
 * the space of phone numbers is small enough to enumerate.
 */
export function hashNumber (key: string, number: string): string {
  return createHmac('sha256', key).update(number.trim()).digest('hex')
}
