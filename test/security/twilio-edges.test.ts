// Issue 17, findings 10 and 13: /twilio answers nothing but 403 to a request it could not verify,
// accepts what Twilio really signs (JSON with bodySHA256, a wss URL with :443), and a media socket
// cannot be held open without proving consent.
import { createHash } from 'node:crypto'
import t from 'tap'
import type { App } from '../../src/app.js'
import { signedUrl, twilioSignature, validTwilioSignature } from '../../src/twilio/signature.js'
import { build, PUBLIC_URL, signedTwilio, TWILIO_TOKEN } from '../helper.js'
import { eventually } from '../harness/eventually.js'
import { injectStream } from '../harness/media-streamer.js'
import { admitted, consentingCall, setup } from '../media-helpers.js'

const params = { CallSid: 'CA0123456789abcdef0123456789abcdef', From: '+447700900123', To: '+442079460018', AccountSid: 'AC0123456789abcdef0123456789abcdef' }
const sha256 = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex')

/** A JSON webhook as Twilio sends one: the URL carries the body's hash and alone is signed. */
function signedJson (path: string, body: string, opts: { signedBody?: string } = {}) {
  const url = `${path}?bodySHA256=${sha256(opts.signedBody ?? body)}`
  return { method: 'POST' as const, url, headers: { 'content-type': 'application/json', 'x-twilio-signature': twilioSignature(TWILIO_TOKEN, PUBLIC_URL + url, {}) }, payload: body }
}

t.test('webhooks', async (t) => {
  const app = await build(t)
  await app.ready()

  t.test('a request that is not verifiably from Twilio is a 403, whatever its body', async (t) => {
    const forged = { 'x-twilio-signature': twilioSignature('some-other-token-abcdef', PUBLIC_URL + '/twilio/voice', {}) }
    const big = 'CallSid=' + 'x'.repeat(2 * 1024 * 1024)
    const cases: Array<[string, Record<string, string>, string, string]> = [
      ['unsigned, JSON that does not parse', {}, 'application/json', '{"CallSid":'],
      ['unsigned, a form over the body limit', {}, 'application/x-www-form-urlencoded', big],
      ['unsigned, JSON over the body limit', {}, 'application/json', JSON.stringify({ pad: 'x'.repeat(2 * 1024 * 1024) })],
      ['unsigned, an unsupported content type', {}, 'application/xml', '<a/>'],
      ['forged, JSON that does not parse', forged, 'application/json', '{"CallSid":'],
      ['forged, a form over the body limit', forged, 'application/x-www-form-urlencoded', big],
      ['empty signature header, a form over the body limit', { 'x-twilio-signature': '' }, 'application/x-www-form-urlencoded', big]
    ]
    for (const [name, headers, type, payload] of cases) {
      for (const path of payload.length > 1024 ? ['/twilio/voice'] : ['/twilio/voice', '/twilio/fallback', '/twilio/status']) {
        const res = await app.inject({ method: 'POST', url: path, headers: { ...headers, 'content-type': type }, payload })
        t.equal(res.statusCode, 403, `${name} → ${path}: 403`)
        t.notMatch(res.body, /<Response|Sorry/, `${name} → ${path}: no TwiML`)
      }
    }
    const signed = await app.inject(signedTwilio('/twilio/fallback', params))
    t.equal(signed.statusCode, 200, 'a signed form request still answers')
  })

  t.test('JSON webhooks signed with bodySHA256 (validateRequestWithBody)', async (t) => {
    const body = JSON.stringify(params)
    const ok = await app.inject(signedJson('/twilio/fallback', body))
    t.equal(ok.statusCode, 200, 'accepted')
    t.match(ok.body, /<Say>Sorry, we cannot take your call right now/)

    const tampered = await app.inject(signedJson('/twilio/fallback', JSON.stringify({ ...params, To: '+442079460099' }), { signedBody: body }))
    t.equal(tampered.statusCode, 403, 'a body that does not match its signed hash is refused')

    const req = signedJson('/twilio/fallback', body)
    const withoutHash = await app.inject({ ...req, url: '/twilio/fallback', headers: { ...req.headers, 'x-twilio-signature': twilioSignature(TWILIO_TOKEN, PUBLIC_URL + '/twilio/fallback', params) } })
    t.equal(withoutHash.statusCode, 403, 'JSON without bodySHA256 is refused: nothing would sign the body')

    const signedButBroken = await app.inject(signedJson('/twilio/fallback', '{"CallSid":'))
    t.equal(signedButBroken.statusCode, 200, 'a signed body that does not parse: Twilio still gets TwiML')
    t.match(signedButBroken.body, /<Response>/)
  })

  t.test('a wss upgrade signed with the default port :443', async (t) => {
    const upgrade = { url: '/twilio/media', headers: { upgrade: 'websocket', connection: 'Upgrade' } }
    const with443 = twilioSignature(TWILIO_TOKEN, 'wss://voice.callgate.test:443/twilio/media', {})
    t.ok(validTwilioSignature(TWILIO_TOKEN, with443, signedUrl(PUBLIC_URL, upgrade), {}), ':443 matches a PUBLIC_URL without a port')
    t.notOk(validTwilioSignature(TWILIO_TOKEN, twilioSignature(TWILIO_TOKEN, 'wss://voice.callgate.test:8443/twilio/media', {}), signedUrl(PUBLIC_URL, upgrade), {}), 'another port does not')
    t.ok(validTwilioSignature(TWILIO_TOKEN, twilioSignature(TWILIO_TOKEN, 'wss://[::1]/twilio/media', {}), 'wss://[::1]:443/twilio/media', {}), 'an IPv6 host keeps its brackets')

    const { ws } = await injectStream(app, { signedUrl: 'wss://voice.callgate.test:443/twilio/media' })
    t.equal(ws.readyState, ws.OPEN, 'the upgrade is accepted')
    ws.terminate()
  })
})

/** Until the server holds `n` sockets: its own close handlers have run by then. */
async function serverSockets (app: App, n: number): Promise<void> {
  await eventually(`the server to hold ${n} sockets`, () => app.websocketServer.clients.size === n, { intervalMs: 5 })
}
const within = async <T>(p: Promise<T>, ms: number): Promise<T | 'still open'> =>
  await Promise.race([p, new Promise<'still open'>((resolve) => setTimeout(() => resolve('still open'), ms).unref())])

t.test('a media socket that never sends start is closed', async (t) => {
  const { app: withCalls } = await setup(t, {}, { media: { startTimeoutMs: 150 } })
  const silent = await injectStream(withCalls)
  const closed = await within(silent.closed, 3000)
  t.match(closed, { code: 1008, reason: /no start message/ }, 'closed with policy violation')
  silent.ws.terminate()

  const { callSid, token } = await consentingCall(withCalls)
  const started = await injectStream(withCalls)
  started.start(callSid, token)
  await admitted(withCalls, callSid)
  t.equal(await within(started.closed, 400), 'still open', 'a stream that started is not cut by the timer')
  started.ws.terminate()
})

t.test('sockets waiting for start are bounded', async (t) => {
  const { app } = await setup(t, {}, { media: { maxUnauthenticated: 2, startTimeoutMs: 60_000 } })
  const a = await injectStream(app)
  const b = await injectStream(app)
  const c = await injectStream(app)
  t.match(await within(c.closed, 3000), { code: 1008, reason: /too many streams waiting/ }, 'one more than the bound is closed')
  t.equal(await within(a.closed, 100), 'still open', 'those within the bound stay open')
  c.ws.terminate()

  // A slot is free again once a waiting socket closes…
  b.ws.terminate()
  await serverSockets(app, 1)
  const d = await injectStream(app)
  t.equal(await within(d.closed, 300), 'still open', 'a closed socket frees its slot')

  // …or once its token is accepted: a consented stream stops counting.
  const { callSid, token } = await consentingCall(app)
  a.start(callSid, token)
  await admitted(app, callSid)
  const e = await injectStream(app)
  t.equal(await within(e.closed, 300), 'still open', 'an admitted stream frees its slot')
  const f = await injectStream(app)
  t.match(await within(f.closed, 3000), { code: 1008 }, 'and the bound still holds')
  for (const s of [a, d, e, f]) s.ws.terminate()
})
