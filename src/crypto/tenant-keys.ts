import { randomBytes } from 'node:crypto'
import { RawAesKeyringNode, RawAesWrappingSuiteIdentifier, type KeyringNode } from '@aws-crypto/client-node'
import type { Clock } from '../clock.js'
import type { Executor } from '../db/executor.js'
import { insertTenantKey, tenantKeyOf } from '../db/tenant-keys.js'
import { openBuffer, sealBuffer } from './envelope.js'
import { fieldCipher, type FieldCipher } from './field-cipher.js'
import type { Keyring } from './keyring.js'

export const TENANT_KEY_NAMESPACE = 'callgate-tenant'
const TENANT_KEY_BYTES = 32

export interface TenantKeysOptions {
  db: Executor
  /** Wraps tenant keys, unless the tenant has its own KMS key. */
  installation: Keyring
  /** A keyring over a tenant's own KMS key. */
  kmsKeyring: (keyId: string) => KeyringNode
  clock: Clock
  /** How long an unwrapped tenant key stays in memory. Bounds how long another instance can
   *  still encrypt or decrypt for a tenant after it was offboarded. */
  cacheMs?: number
}

export type TenantKeys = ReturnType<typeof createTenantKeys>

interface TenantKeyMaterial { keyring: Keyring, fields: FieldCipher }

/** Raised for a tenant that does not exist (any more): it has no key to use. */
export class NoTenantKey extends Error {
  override name = 'NoTenantKey'
}

/**
 * Two levels: each tenant has its own 256-bit key, stored only wrapped (by the installation key,
 * or by the tenant's own KMS key); it wraps the data key of every recording of that tenant.
 * Deleting the wrapped tenant key therefore makes all of the tenant's recordings unreadable,
 * wherever a copy of their ciphertext survives (crypto-shredding).
 */
export function createTenantKeys (opts: TenantKeysOptions) {
  const cacheMs = opts.cacheMs ?? 300_000
  const cache = new Map<string, { material: Promise<TenantKeyMaterial>, until: number }>()

  function wrappingKeyring (kmsKeyId: string | null): Keyring {
    return kmsKeyId === null ? opts.installation : { keyring: opts.kmsKeyring(kmsKeyId), keyId: kmsKeyId }
  }

  function keyringOf (tenantId: string, key: Buffer, wrappedBy: string): TenantKeyMaterial {
    // Derived before the keyring takes the key over.
    const fields = fieldCipher(key, tenantId)
    const keyring = new RawAesKeyringNode({
      keyNamespace: TENANT_KEY_NAMESPACE,
      keyName: tenantId,
      unencryptedMasterKey: key,
      wrappingSuite: RawAesWrappingSuiteIdentifier.AES256_GCM_IV12_TAG16_NO_PADDING
    })
    return { keyring: { keyring, keyId: `tenant:${tenantId}/${wrappedBy}` }, fields }
  }

  const contextOf = (tenantId: string) => ({ purpose: 'tenant-key', tenant: tenantId })

  async function load (tenantId: string): Promise<TenantKeyMaterial> {
    for (let attempt = 0; attempt < 2; attempt++) {
      const stored = await tenantKeyOf(opts.db, tenantId)
      if (stored === null) throw new NoTenantKey(`tenant ${tenantId} does not exist (any more): it has no key`)
      if (stored.wrapped !== null) {
        const wrapping = wrappingKeyring(stored.kmsKeyId)
        const opened = await openBuffer(wrapping.keyring, Buffer.from(stored.wrapped, 'base64'), contextOf(tenantId))
        // The keyring insists on a buffer that owns its memory; the SDK's plaintext is a view.
        const key = Buffer.alloc(TENANT_KEY_BYTES)
        opened.copy(key)
        opened.fill(0)
        return keyringOf(tenantId, key, stored.wrappedBy!)
      }
      const wrapping = wrappingKeyring(stored.kmsKeyId)
      const key = randomBytes(TENANT_KEY_BYTES)
      const wrapped = await sealBuffer(wrapping.keyring, key, contextOf(tenantId))
      // Several processes may race to make the first key; the one stored wins, the others re-read it.
      if (await insertTenantKey(opts.db, { tenantId, wrapped: wrapped.toString('base64'), wrappedBy: wrapping.keyId })) {
        return keyringOf(tenantId, key, wrapping.keyId)
      }
      key.fill(0)
    }
    throw new Error(`tenant ${tenantId}: its key vanished while being read`)
  }

  async function material (tenantId: string): Promise<TenantKeyMaterial> {
    const now = opts.clock.now().getTime()
    const hit = cache.get(tenantId)
    if (hit !== undefined && hit.until > now) return await hit.material
    const loading = load(tenantId)
    cache.set(tenantId, { material: loading, until: now + cacheMs })
    // A failure is not remembered: the next call tries again.
    loading.catch(() => { if (cache.get(tenantId)?.material === loading) cache.delete(tenantId) })
    return await loading
  }

  return {
    /** The keyring for the tenant's recordings; makes the tenant's key on first use. */
    async forTenant (tenantId: string): Promise<Keyring> {
      return (await material(tenantId)).keyring
    },
    /** Seals and opens the tenant's small values (contacts' numbers) under its key. */
    async fieldsOf (tenantId: string): Promise<FieldCipher> {
      return (await material(tenantId)).fields
    },
    /** Drops the unwrapped key from this process (after offboarding). */
    forget (tenantId: string): void {
      cache.delete(tenantId)
    }
  }
}
