// KMS unreachable: a caller who consented is not recorded (no key, no recording), the call goes
// on, and nothing half-written is left; once KMS answers, recording works again.
import { eq } from 'drizzle-orm'
import t from 'tap'
import { calls, recordings } from '../../src/db/schema.js'
import { fakeKms } from '../fake-kms.js'
import { signedTwilio } from '../helper.js'
import { consentingCall, NUMBER, openStream, recordCall, setup } from '../media-helpers.js'

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true'

t.test('KMS down: the stream is refused, the call continues unrecorded; back up: recorded', async (t) => {
  const kms = await fakeKms(t)
  const { app } = await setup(t, { KMS_KEY_ID: 'arn:aws:kms:eu-west-1:111122223333:key/installation', KMS_ENDPOINT: kms.endpoint, S3_REGION: 'eu-west-1' }, { keys: { kmsCredentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'test' } } })

  kms.fail('TrentService.GenerateDataKey')
  const { callSid, token } = await consentingCall(app, '1', '+447700900801')
  const stream = await openStream(app)
  stream.start(callSid, token)
  t.equal((await stream.closed).code, 1008, 'the stream is closed: no key, no recording')
  t.same(await app.database.db.select().from(recordings).where(eq(recordings.callSid, callSid)), [], 'no recording row')
  const menu = await app.inject(signedTwilio('/twilio/flow?node=menu', { CallSid: callSid, From: '+447700900801', To: NUMBER, Digits: '1' }))
  t.match(menu.body, /<Dial/, 'the call goes on')
  const [call] = await app.database.db.select().from(calls).where(eq(calls.callSid, callSid))
  t.equal(call!.status, 'in-progress')

  kms.heal('TrentService.GenerateDataKey')
  const recorded = await recordCall(app, '+447700900802', 1)
  const [row] = await app.database.db.select().from(recordings).where(eq(recordings.id, recorded.recordingId))
  t.equal(row!.status, 'stored', 'KMS back: the next consenting caller is recorded')
})
