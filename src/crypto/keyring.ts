import {
  cacheClients,
  getClient,
  KMS,
  KmsKeyringNode,
  RawAesKeyringNode,
  RawAesWrappingSuiteIdentifier,
  type KeyringNode
} from '@aws-crypto/client-node'
import type { KMSClientConfig } from '@aws-sdk/client-kms'
import { loadOrCreateLocalKey } from './local-key.js'

export const LOCAL_KEY_NAMESPACE = 'callgate'
export const LOCAL_KEY_NAME = 'local-1'

export interface KeyringOptions {
  kms: {
    /** null: wrap data keys with the local key under DATA_DIR/keyring instead of KMS. */
    keyId: string | null
    /** null: the SDK's regional endpoint. */
    endpoint: string | null
    region: string
    /** Omitted: the SDK's default provider chain (environment, profile, instance role). */
    credentials?: KMSClientConfig['credentials']
  }
  dataDir: string
}

export interface Keyring {
  keyring: KeyringNode
  /** Recorded next to each object so an operator knows which key a recording needs. */
  keyId: string
}

export async function createKeyring (opts: KeyringOptions): Promise<Keyring> {
  const { keyId, endpoint, region, credentials } = opts.kms
  if (keyId !== null) {
    // The keyring calls generateDataKey/decrypt as methods, so it needs the aggregated KMS
    // class (a KMSClient subclass). getClient keeps our endpoint and lets a key ARN's own
    // region win over the default; cacheClients makes that one client per region, not per call.
    const clientProvider = cacheClients(getClient(KMS, {
      region,
      ...(endpoint !== null ? { endpoint } : {}),
      ...(credentials !== undefined ? { credentials } : {})
    }))
    return { keyring: new KmsKeyringNode({ generatorKeyId: keyId, clientProvider }), keyId }
  }
  const unencryptedMasterKey = await loadOrCreateLocalKey(opts.dataDir, LOCAL_KEY_NAME)
  const keyring = new RawAesKeyringNode({
    keyNamespace: LOCAL_KEY_NAMESPACE,
    keyName: LOCAL_KEY_NAME,
    unencryptedMasterKey,
    wrappingSuite: RawAesWrappingSuiteIdentifier.AES256_GCM_IV12_TAG16_NO_PADDING
  })
  return { keyring, keyId: `local:${LOCAL_KEY_NAME}` }
}
