import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { buffer } from 'node:stream/consumers'
import t from 'tap'
import { decryptStream, encryptStream } from '../../src/crypto/envelope.js'
import { createKeyring, kmsKeyring, type KmsOptions } from '../../src/crypto/keyring.js'
import { createTenantKeys, NoTenantKey } from '../../src/crypto/tenant-keys.js'
import { createTenant } from '../../src/db/users.js'
import { fakeKms } from '../fake-kms.js'
import { fixedClock, testDatabase } from '../helper.js'

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true'

const audio = Buffer.from(Array.from({ length: 20_000 }, (_, i) => (i * 7) % 255))

for (const wrapping of ['local key', 'KMS'] as const) {
  t.test(`${wrapping}: a key made by one process is loaded by another, and the tenant's audio decrypts`, async (t) => {
    const { db } = await testDatabase(t)
    const dataDir = mkdtempSync(join(tmpdir(), 'callgate-tk-'))
    t.teardown(() => rmSync(dataDir, { recursive: true, force: true }))
    const kms: KmsOptions = wrapping === 'KMS'
      ? { keyId: 'arn:aws:kms:eu-west-1:111122223333:key/installation', endpoint: (await fakeKms(t)).endpoint, region: 'eu-west-1', credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'test' } }
      : { keyId: null, endpoint: null, region: 'eu-west-1' }
    const installation = await createKeyring({ kms, dataDir })
    const make = () => createTenantKeys({ db, installation, kmsKeyring: (id) => kmsKeyring(kms, id), clock: fixedClock('2026-11-24T10:00:00Z') })
    const { id: tenantId } = await createTenant(db, { name: 'Acme', kmsKeyId: null })
    const context = { tenantId, callSid: 'CA' + '1'.repeat(32), recordingId: 'rec-1' }

    const first = await make().forTenant(tenantId)
    const ciphertext = await buffer(Readable.from([audio]).pipe(encryptStream(first.keyring, context)))
    // A second instance (another process, or this one after its cache expired) reads the stored key.
    const second = await make().forTenant(tenantId)
    t.equal(second.keyId, first.keyId)
    t.same(await buffer(Readable.from([ciphertext]).pipe(decryptStream(second.keyring, context))), audio)

    const { id: otherId } = await createTenant(db, { name: 'Other', kmsKeyId: null })
    const other = await make().forTenant(otherId)
    await t.rejects(buffer(Readable.from([ciphertext]).pipe(decryptStream(other.keyring, context))), 'another tenant\'s key cannot open it')
    await t.rejects(make().forTenant('00000000-0000-4000-8000-000000000000'), NoTenantKey)
  })
}
