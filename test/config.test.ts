import { statSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { ConfigError, loadConfig } from '../src/config.js'
import { tempDir } from './helper.js'

t.test('defaults make an embedded installation', async (t) => {
  const dir = tempDir(t)
  const config = loadConfig({ DATA_DIR: dir })
  t.equal(config.port, 3000)
  t.equal(config.host, '127.0.0.1')
  t.equal(config.publicUrl, 'http://127.0.0.1:3000')
  t.equal(config.databaseUrl, null, 'no DATABASE_URL means PGlite')
  t.equal(config.s3.endpoint, null, 'no S3_ENDPOINT means the embedded store')
  t.equal(config.s3.forcePathStyle, true)
  t.equal(config.kms.keyId, null)
  t.equal(config.twilioApiUrl, 'https://api.twilio.com')
  t.same(config.generated.sort(), ['adminToken', 'twilioAuthToken'])
  t.match(config.twilioAuthToken, /^[0-9a-f]{32}$/)
  t.ok(config.adminToken.length >= 40)

  const file = join(dir, 'secrets.json')
  t.equal(statSync(file).mode & 0o777, 0o600, 'secrets are readable by the owner only')
  const again = loadConfig({ DATA_DIR: dir, PORT: '8080', HOST: '::1' })
  t.same(again.generated, [], 'generated once, then reused')
  t.equal(again.adminToken, config.adminToken)
  t.equal(again.twilioAuthToken, config.twilioAuthToken)
  t.equal(again.numberHashKey, config.numberHashKey, 'the number hash key is stable, or suppression matching would break')
  t.equal(again.publicUrl, 'http://[::1]:8080')
})

t.test('the environment overrides every default', async (t) => {
  const config = loadConfig({
    DATA_DIR: tempDir(t),
    PUBLIC_URL: 'https://voice.example.com/',
    DATABASE_URL: 'postgres://u:p@127.0.0.1:5432/cg',
    TWILIO_AUTH_TOKEN: 'abcdefabcdefabcdefabcdefabcdefab',
    TWILIO_ACCOUNT_SID: 'AC0123456789abcdef0123456789abcdef',
    TWILIO_API_URL: 'http://127.0.0.1:8099',
    ADMIN_TOKEN: 'a-very-long-admin-token-value',
    S3_BUCKET: 'recordings-eu',
    S3_ENDPOINT: 'https://s3.eu-west-2.amazonaws.com',
    S3_REGION: 'eu-west-2',
    S3_SSE_KMS_KEY_ID: 'alias/callgate-s3',
    KMS_KEY_ID: 'alias/callgate',
    KMS_ENDPOINT: 'https://kms.eu-west-2.amazonaws.com',
    LOG_LEVEL: 'warn',
    UNRELATED: 'ignored'
  })
  t.equal(config.publicUrl, 'https://voice.example.com', 'trailing slash dropped')
  t.equal(config.databaseUrl, 'postgres://u:p@127.0.0.1:5432/cg')
  t.same(config.generated, [], 'nothing printed when both secrets come from the environment')
  t.equal(config.twilioAccountSid, 'AC0123456789abcdef0123456789abcdef')
  t.equal(config.twilioApiUrl, 'http://127.0.0.1:8099')
  t.same(config.s3, { endpoint: 'https://s3.eu-west-2.amazonaws.com', bucket: 'recordings-eu', region: 'eu-west-2', forcePathStyle: false, sseKmsKeyId: 'alias/callgate-s3' })
  t.same(config.kms, { keyId: 'alias/callgate', endpoint: 'https://kms.eu-west-2.amazonaws.com' })
  t.equal(config.logLevel, 'warn')
  t.equal(loadConfig({ DATA_DIR: tempDir(t), S3_ENDPOINT: 'http://127.0.0.1:9000', S3_FORCE_PATH_STYLE: 'true' }).s3.forcePathStyle, true)
})

t.test('bad values name the variable', async (t) => {
  const dir = tempDir(t)
  t.throws(() => loadConfig({ DATA_DIR: dir, PORT: 'eighty' }), { name: 'Error', message: /PORT/ })
  t.throws(() => loadConfig({ DATA_DIR: dir, PORT: '70000' }), /PORT: must be at most 65535/)
  t.throws(() => loadConfig({ DATA_DIR: dir, DATABASE_URL: 'mysql://x' }), /DATABASE_URL/)
  t.throws(() => loadConfig({ DATA_DIR: dir, PUBLIC_URL: 'voice.example.com' }), /PUBLIC_URL/)
  t.throws(() => loadConfig({ DATA_DIR: dir, LOG_LEVEL: 'loud' }), /LOG_LEVEL/)
  try {
    loadConfig({ DATA_DIR: dir, ADMIN_TOKEN: 'short' })
    t.fail('should throw')
  } catch (err) {
    t.ok(err instanceof ConfigError)
  }
  t.equal(loadConfig({ DATA_DIR: dir, PORT: '' }).port, 3000, 'an empty variable counts as unset')
})

t.test('a corrupt secrets file is reported, not replaced', async (t) => {
  const dir = tempDir(t)
  const { writeFileSync } = await import('node:fs')
  writeFileSync(join(dir, 'secrets.json'), '{ not json')
  t.throws(() => loadConfig({ DATA_DIR: dir }), /secrets\.json/)
})
