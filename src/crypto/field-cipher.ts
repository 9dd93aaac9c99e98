import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto'

const VERSION = 1
const IV_BYTES = 12
const TAG_BYTES = 16

/**
 * Seals a tenant's small values (a contact's phone number) one by one: AES-256-GCM under a key
 * derived from the tenant's key with HKDF. A recording's envelope (a data key per message,
 * wrapped by the keyring) would cost a wrapped key and some 200 bytes per number and most of an
 * import's time; this costs 29 bytes and a few microseconds, and it is as gone as the
 * recordings once the tenant key is deleted. `context` (e.g. the campaign's id) is bound in as
 * associated data: a sealed value copied to another row does not open there.
 */
export interface FieldCipher {
  seal (plaintext: string, context: string): string
  /** Throws if the value was not sealed by this tenant's key for this context. */
  open (sealed: string, context: string): string
}

export function fieldCipher (tenantKey: Buffer, tenantId: string): FieldCipher {
  const key = Buffer.from(hkdfSync('sha256', tenantKey, Buffer.alloc(0), `callgate field v${VERSION} ${tenantId}`, 32))
  // Random IVs drawn a thousand at a time: one call to the system's generator per number was a
  // noticeable share of an import.
  let pool = Buffer.alloc(0)
  let taken = 0
  const nextIv = () => {
    if (taken + IV_BYTES > pool.length) { pool = randomBytes(IV_BYTES * 1024); taken = 0 }
    taken += IV_BYTES
    return pool.subarray(taken - IV_BYTES, taken)
  }
  return {
    seal (plaintext, context) {
      const iv = nextIv()
      const cipher = createCipheriv('aes-256-gcm', key, iv)
      cipher.setAAD(Buffer.from(context))
      const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()])
      return Buffer.concat([Buffer.of(VERSION), iv, body, cipher.getAuthTag()]).toString('base64')
    },
    open (sealed, context) {
      const bytes = Buffer.from(sealed, 'base64')
      if (bytes.length < 1 + IV_BYTES + TAG_BYTES || bytes[0] !== VERSION) throw new Error('not a sealed field value')
      const decipher = createDecipheriv('aes-256-gcm', key, bytes.subarray(1, 1 + IV_BYTES))
      decipher.setAAD(Buffer.from(context))
      decipher.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES))
      return Buffer.concat([decipher.update(bytes.subarray(1 + IV_BYTES, bytes.length - TAG_BYTES)), decipher.final()]).toString('utf8')
    }
  }
}
