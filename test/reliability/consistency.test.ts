// Processes sharing a database must share its keys; one that does not refuses to start, naming
// the variable, instead of silently failing to match opt-outs or to read tenant keys.
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { buildApp } from '../../src/app.js'
import { InconsistentInstallation } from '../../src/plugins/consistency.js'
import { fakeKms } from '../fake-kms.js'
import { testConfig, testDatabase } from '../helper.js'

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true'

t.test('a second process with other keys is refused; with the same keys it starts', async (t) => {
  const database = await testDatabase(t)
  const start = async (env: Record<string, string>) => {
    const app = await buildApp(testConfig(t, env), { database, keys: { kmsCredentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'test' } } })
    t.teardown(() => app.close())
    return app
  }
  const first = await start({})
  const shared = { NUMBER_HASH_KEY: first.config.numberHashKey, LINK_SECRET: first.config.linkSecret }

  await t.rejects(start({}), { name: InconsistentInstallation.name, message: /NUMBER_HASH_KEY differs/ }, 'its own generated number-hash key')
  await t.rejects(start({ NUMBER_HASH_KEY: shared.NUMBER_HASH_KEY }), { message: /LINK_SECRET differs/ }, 'its own link secret')
  await t.rejects(start(shared), { message: /installation key \(local:local-1\) cannot open/ }, 'its own local key')

  // The same DATA_DIR again (a restart) has the same keys.
  await first.close()
  const again = await buildApp({ ...first.config }, { database })
  t.teardown(() => again.close())
  t.equal(again.config.numberHashKey, shared.NUMBER_HASH_KEY, 'a restart reads the keys it generated')
  t.equal((await again.inject({ method: 'GET', url: '/readyz' })).statusCode, 200, 'and starts: the database and the object store answer')
})

t.test('with KMS: the key id must match, and no KMS call is made at start', async (t) => {
  const database = await testDatabase(t)
  const kms = await fakeKms(t)
  const keys = { NUMBER_HASH_KEY: randomBytes(32).toString('base64url'), LINK_SECRET: randomBytes(32).toString('base64url'), KMS_ENDPOINT: kms.endpoint }
  const start = async (keyId: string) => {
    const dataDir = mkdtempSync(join(tmpdir(), 'callgate-cons-'))
    t.teardown(() => rmSync(dataDir, { recursive: true, force: true }))
    const app = await buildApp(testConfig(t, { ...keys, KMS_KEY_ID: keyId, DATA_DIR: dataDir }), { database, keys: { kmsCredentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'test' } } })
    t.teardown(() => app.close())
    return app
  }
  await start('arn:aws:kms:eu-west-1:111122223333:key/one')
  t.ok(await start('arn:aws:kms:eu-west-1:111122223333:key/one'), 'same key id: starts')
  await t.rejects(start('arn:aws:kms:eu-west-1:111122223333:key/two'), { message: /KMS_KEY_ID differs .*key\/one/ })
  t.equal(kms.calls.length, 0, 'KMS was not called')
})
