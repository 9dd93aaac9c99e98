import t from 'tap'
import { signedUrl, twilioSignature, validTwilioSignature } from '../src/twilio/signature.js'
import { build, PUBLIC_URL, signedTwilio, TWILIO_TOKEN } from './helper.js'

const params = { CallSid: 'CA0123456789abcdef0123456789abcdef', From: '+447700900123', To: '+442079460018', AccountSid: 'AC0123456789abcdef0123456789abcdef' }

t.test('webhook signatures', async (t) => {
  const app = await build(t)

  t.test('a valid signature passes and the fallback answers without recording', async (t) => {
    const res = await app.inject(signedTwilio('/twilio/fallback', params))
    t.equal(res.statusCode, 200)
    t.match(res.headers['content-type'], /text\/xml/)
    t.match(res.body, /<Say>Sorry, we cannot take your call right now/)
    t.match(res.body, /<Hangup\/>/)
    t.notMatch(res.body, /<Stream|<Record/)
  })

  t.test('a tampered parameter is refused', async (t) => {
    const req = signedTwilio('/twilio/fallback', params)
    req.payload = new URLSearchParams({ ...params, To: '+442079460099' }).toString()
    const res = await app.inject(req)
    t.equal(res.statusCode, 403)
    t.notMatch(res.body, /Response/, 'no TwiML for a forged request')
  })

  t.test('an added parameter is refused', async (t) => {
    const req = signedTwilio('/twilio/fallback', params)
    req.payload += '&Digits=9'
    t.equal((await app.inject(req)).statusCode, 403)
  })

  t.test('a signature over another URL is refused', async (t) => {
    const res = await app.inject(signedTwilio('/twilio/fallback', params, { url: 'https://evil.test/twilio/fallback' }))
    t.equal(res.statusCode, 403)
  })

  t.test('a signature made with another auth token is refused', async (t) => {
    const res = await app.inject(signedTwilio('/twilio/fallback', params, { token: 'some-other-token-abcdef' }))
    t.equal(res.statusCode, 403)
  })

  t.test('a missing or empty header is refused', async (t) => {
    const req = signedTwilio('/twilio/fallback', params)
    const { 'x-twilio-signature': _sig, ...headers } = req.headers
    t.equal((await app.inject({ ...req, headers })).statusCode, 403)
    t.equal((await app.inject({ ...req, headers: { ...headers, 'x-twilio-signature': '' } })).statusCode, 403)
  })

  t.test('behind a proxy the URL Twilio used counts, not the forwarded one', async (t) => {
    const req = signedTwilio('/twilio/fallback', params)
    const res = await app.inject({ ...req, headers: { ...req.headers, host: '10.1.2.3:3000', 'x-forwarded-proto': 'http', 'x-forwarded-host': 'internal.lan' } })
    t.equal(res.statusCode, 200)
    const signedInternally = signedTwilio('/twilio/fallback', params, { url: 'http://10.1.2.3:3000/twilio/fallback' })
    t.equal((await app.inject({ ...signedInternally, headers: { ...signedInternally.headers, host: '10.1.2.3:3000' } })).statusCode, 403)
  })

  t.test('an explicit default port in the signed URL is accepted', async (t) => {
    const res = await app.inject(signedTwilio('/twilio/fallback', params, { url: 'https://voice.callgate.test:443/twilio/fallback' }))
    t.equal(res.statusCode, 200)
  })

  t.test('the query string is part of what is signed', async (t) => {
    const withQuery = await app.inject(signedTwilio('/twilio/fallback?attempt=2', params))
    t.equal(withQuery.statusCode, 200)
    const req = signedTwilio('/twilio/fallback', params)
    t.equal((await app.inject({ ...req, url: '/twilio/fallback?attempt=2' })).statusCode, 403, 'a query added after signing is refused')
  })

  t.test('a handler failure still answers TwiML, never a stack trace', async (t) => {
    const res = await app.inject(signedTwilio('/twilio/fallback', { ...params, CallSid: 'CA' + 'x'.repeat(100) }))
    t.equal(res.statusCode, 200)
    t.match(res.body, /<Response><Say>Sorry/)
    t.notMatch(res.body, /CallSid|at |Error/)
  })
})

t.test('PUBLIC_URL with a path prefix that the proxy strips', async (t) => {
  const app = await build(t, { env: { PUBLIC_URL: 'https://example.test/callgate/' } })
  const url = 'https://example.test/callgate/twilio/fallback'
  const res = await app.inject(signedTwilio('/twilio/fallback', params, { url }))
  t.equal(res.statusCode, 200)
})

t.test('the WebSocket upgrade is signed over the stream URL as emitted', async (t) => {
  const upgrade = { url: '/twilio/media?ignored=1', headers: { upgrade: 'websocket', connection: 'Upgrade' } }
  t.equal(signedUrl(PUBLIC_URL, upgrade), 'wss://voice.callgate.test/twilio/media')
  t.equal(signedUrl('http://127.0.0.1:3000', upgrade), 'ws://127.0.0.1:3000/twilio/media')
  t.equal(signedUrl(PUBLIC_URL, { url: '/twilio/voice?x=1', headers: {} }), 'https://voice.callgate.test/twilio/voice?x=1')
  const signature = twilioSignature(TWILIO_TOKEN, 'wss://voice.callgate.test/twilio/media', {})
  t.ok(validTwilioSignature(TWILIO_TOKEN, signature, signedUrl(PUBLIC_URL, upgrade), {}))
  t.notOk(validTwilioSignature(TWILIO_TOKEN, signature, 'wss://voice.callgate.test/twilio/other', {}))
  t.notOk(validTwilioSignature(TWILIO_TOKEN, undefined, 'wss://voice.callgate.test/twilio/media', {}))
})
