import {
  cacheClients,
  getClient,
  KMS,
  KmsKeyringNode,
  RawAesKeyringNode,
  RawAesWrappingSuiteIdentifier,
  type KeyringNode
} from '@aws-crypto/client-node'
import { KMSClient, type KMSClientConfig } from '@aws-sdk/client-kms'
import { loadOrCreateLocalKey } from './local-key.js'

export const LOCAL_KEY_NAMESPACE = 'callgate'
export const LOCAL_KEY_NAME = 'local-1'

export interface KmsOptions {
  /** null: wrap with the local key under DATA_DIR/keyring instead of KMS. */
  keyId: string | null
  /** null: the SDK's regional endpoint. */
  endpoint: string | null
  region: string
  /** Omitted: the SDK's default provider chain (environment, profile, instance role). */
  credentials?: KMSClientConfig['credentials']
}

export interface KeyringOptions {
  kms: KmsOptions
  dataDir: string
}

export interface Keyring {
  keyring: KeyringNode
  /** Recorded next to what it wraps, so an operator knows which key is needed. */
  keyId: string
}

/**
 * A KMS client for calls about one key (such as scheduling its deletion): the region of a key
 * ARN wins over the configured one, as it does for the keyring.
 */
export function kmsClientFor (opts: KmsOptions, keyId: string): KMSClient {
  const arnRegion = /^arn:[^:]+:kms:([^:]+):/.exec(keyId)?.[1]
  return new KMSClient({
    region: arnRegion ?? opts.region,
    ...(opts.endpoint !== null ? { endpoint: opts.endpoint } : {}),
    ...(opts.credentials !== undefined ? { credentials: opts.credentials } : {})
  })
}

/** A keyring over one KMS key, sharing the installation's KMS configuration. */
export function kmsKeyring (opts: KmsOptions, keyId: string): KeyringNode {
  // The keyring calls generateDataKey/decrypt as methods, so it needs the aggregated KMS class
  // (a KMSClient subclass); cacheClients makes that one client per region, not per call.
  const clientProvider = cacheClients(getClient(KMS, {
    region: opts.region,
    ...(opts.endpoint !== null ? { endpoint: opts.endpoint } : {}),
    ...(opts.credentials !== undefined ? { credentials: opts.credentials } : {})
  }))
  return new KmsKeyringNode({ generatorKeyId: keyId, clientProvider })
}

/** The installation key: KMS_KEY_ID, or the local key file when KMS is not configured. */
export async function createKeyring (opts: KeyringOptions): Promise<Keyring> {
  const { keyId } = opts.kms
  if (keyId !== null) return { keyring: kmsKeyring(opts.kms, keyId), keyId }
  const unencryptedMasterKey = await loadOrCreateLocalKey(opts.dataDir, LOCAL_KEY_NAME)
  const keyring = new RawAesKeyringNode({
    keyNamespace: LOCAL_KEY_NAMESPACE,
    keyName: LOCAL_KEY_NAME,
    unencryptedMasterKey,
    wrappingSuite: RawAesWrappingSuiteIdentifier.AES256_GCM_IV12_TAG16_NO_PADDING
  })
  return { keyring, keyId: `local:${LOCAL_KEY_NAME}` }
}
