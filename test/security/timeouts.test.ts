// Issue 17, finding 12: a client dribbling its request is cut off (408) after REQUEST_TIMEOUT_SECONDS;
// what legitimately lasts longer (a slow download, a media WebSocket) is not.
import { once } from 'node:events'
import { connect, type AddressInfo } from 'node:net'
import { Readable } from 'node:stream'
import t from 'tap'
import { connectStream } from '../harness/media-streamer.js'
import { ADMIN_TOKEN, build, testConfig } from '../helper.js'

const TIMEOUT_MS = 1000
// The timeout plus Node's check interval (a quarter of it) plus slack for a busy 2-core machine.
const CUT_WITHIN_MS = TIMEOUT_MS * 3
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

// One server for the whole file: building the app is the slow part.
const app = await build(t, { env: { REQUEST_TIMEOUT_SECONDS: String(TIMEOUT_MS / 1000) } })
// A response that takes twice the timeout to send, like a long recording to a slow client.
app.get('/test/slow-download', async (_request, reply) => {
  const chunks = async function * () {
    for (let i = 0; i < 8; i++) { yield Buffer.alloc(1000, i); await sleep(TIMEOUT_MS / 4) }
  }
  return reply.type('application/octet-stream').send(Readable.from(chunks()))
})
await app.listen({ host: '127.0.0.1', port: 0 })
const port = (app.server.address() as AddressInfo).port

/** Sends `head`, then one byte of `body` every `everyMs` until the server answers or closes. */
async function dribble (port: number, head: string, body: string, everyMs: number) {
  const socket = connect(port, '127.0.0.1')
  await once(socket, 'connect')
  const started = Date.now()
  let answer = ''
  socket.on('data', (chunk: Buffer) => { answer += chunk.toString() })
  const closed = once(socket, 'close').then(() => Date.now() - started)
  socket.write(head)
  let i = 0
  const timer = setInterval(() => { if (!socket.destroyed && i < body.length) socket.write(body[i++]!) }, everyMs)
  const elapsed = await Promise.race([closed, sleep(CUT_WITHIN_MS + 2000).then(() => null)])
  clearInterval(timer)
  socket.destroy()
  return { elapsed, answer, sent: i }
}

t.test('a body sent a byte at a time is answered 408 and the connection closed', async (t) => {
  const body = JSON.stringify({ name: 'A tenant whose name arrives very slowly, one byte at a time' })
  const head = `POST /api/tenants HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${ADMIN_TOKEN}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`
  const { elapsed, answer, sent } = await dribble(port, head, body, 50)
  t.ok(elapsed !== null && elapsed <= CUT_WITHIN_MS, `closed after ${elapsed} ms (timeout ${TIMEOUT_MS} ms)`)
  t.match(answer, /^HTTP\/1\.1 408 /, '408 Request Timeout')
  t.ok(sent < body.length, `cut off before the body was complete (${sent}/${body.length} bytes)`)
})

t.test('headers sent a byte at a time are cut off too', async (t) => {
  const { elapsed, answer } = await dribble(port, 'GET /healthz HTTP/1.1\r\n', 'Host: 127.0.0.1\r\nX-Slow: ' + 'a'.repeat(200) + '\r\n\r\n', 50)
  t.ok(elapsed !== null && elapsed <= CUT_WITHIN_MS, `closed after ${elapsed} ms`)
  t.match(answer, /^HTTP\/1\.1 408 /)
})

t.test('the timeout counts until the request is in: a download may last longer', async (t) => {
  const started = Date.now()
  const res = await fetch(`http://127.0.0.1:${port}/test/slow-download`)
  const body = Buffer.from(await res.arrayBuffer())
  t.equal(res.status, 200)
  t.equal(body.length, 8000, 'every byte arrived')
  t.ok(Date.now() - started >= TIMEOUT_MS * 1.5, 'and it took longer than the request timeout')
})

t.test('a media WebSocket outlives the request timeout', async (t) => {
  // Signed over PUBLIC_URL's wss address, as Twilio would sign the <Stream url> the server gave it.
  const stream = await connectStream(`http://127.0.0.1:${port}`)
  if (stream === null) throw new Error('the media stream was refused')
  const { ws } = stream
  t.teardown(() => ws.terminate())
  let closedAt: number | null = null
  void stream.closed.then(() => { closedAt = Date.now() })
  await sleep(TIMEOUT_MS * 2.5)
  t.equal(closedAt, null, 'still open after 2.5 × the request timeout')
  ws.ping()
  const [pong] = await Promise.race([once(ws, 'pong'), sleep(2000).then(() => [null])])
  t.ok(pong !== null, 'and it still answers')
})

t.test('REQUEST_TIMEOUT_SECONDS: Node\'s 300 s by default, at least 1', async (t) => {
  t.equal(testConfig(t).requestTimeoutMs, 300_000)
  t.equal(testConfig(t, { REQUEST_TIMEOUT_SECONDS: '3600' }).requestTimeoutMs, 3_600_000, 'raised for a very large register import')
  t.throws(() => testConfig(t, { REQUEST_TIMEOUT_SECONDS: '0' }), /REQUEST_TIMEOUT_SECONDS/, 'never off')
})
