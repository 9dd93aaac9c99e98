import type { KMSClientConfig } from '@aws-sdk/client-kms'
import fp from 'fastify-plugin'
import { createKeyring, kmsKeyring, type Keyring, type KmsOptions } from '../crypto/keyring.js'
import { createTenantKeys, type TenantKeys } from '../crypto/tenant-keys.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** The installation key: wraps tenant keys. */
    keyring: Keyring
    /** Per-tenant keys: wrap recordings' data keys. */
    tenantKeys: TenantKeys
    kmsOptions: KmsOptions
  }
}

export interface KeysPluginOptions {
  /** KMS credentials instead of the SDK's default chain (tests, or an operator's own provider). */
  kmsCredentials?: KMSClientConfig['credentials']
}

export default fp<KeysPluginOptions>(async (app, opts) => {
  const { config } = app
  const kms: KmsOptions = {
    keyId: config.kms.keyId,
    endpoint: config.kms.endpoint,
    region: config.s3.region,
    ...(opts.kmsCredentials !== undefined ? { credentials: opts.kmsCredentials } : {})
  }
  const installation = await createKeyring({ kms, dataDir: config.dataDir })
  app.decorate('keyring', installation)
  app.decorate('kmsOptions', kms)
  app.decorate('tenantKeys', createTenantKeys({
    db: app.database.db,
    installation,
    kmsKeyring: (keyId) => kmsKeyring(kms, keyId),
    clock: app.clock
  }))
}, { name: 'keys', dependencies: ['core', 'database'] })
