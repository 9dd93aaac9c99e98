// Twilio for bench/dialler.ts, in a process of its own so that its CPU is not the server's:
// answers Calls.json (Basic auth) at once, then plays each call at once. Mode `answer`: a person
// answers (the signed voice webhook, Direction outbound-api, AnsweredBy human, then the final
// status); mode `busy`: only the final status, busy (the dialler's own work: place and settle).
// POST /mode/answer or /mode/busy switches. Prints "listening <url>" when ready, and the calls
// it was asked for on SIGTERM.
// Usage: tsx bench/twilio-standin.ts <server base URL> <account sid> <auth token>
import { createServer, request } from 'node:http'
import type { AddressInfo } from 'node:net'
import { twilioSignature } from '../src/twilio/signature.js'

const [base, accountSid, authToken] = process.argv.slice(2) as [string, string, string]
const expected = 'Basic ' + Buffer.from(`${accountSid}:${authToken}`).toString('base64')
let calls = 0
let failures = 0

/** One signed webhook; the URL Twilio signs is the server's PUBLIC_URL, here its base. */
async function post (path: string, params: Record<string, string>): Promise<void> {
  const body = new URLSearchParams(params).toString()
  const url = new URL(base + path)
  await new Promise<void>((resolve) => {
    const req = request(url, { method: 'POST', agent, headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body), 'x-twilio-signature': twilioSignature(authToken, base + path, params) } }, (res) => {
      if (res.statusCode !== 200) failures++
      res.resume().on('end', resolve)
    })
    req.on('error', () => { failures++; resolve() })
    req.end(body)
  })
}
const agent = new (await import('node:http')).Agent({ keepAlive: true, maxSockets: 64 })

let mode: 'answer' | 'busy' = 'answer'

async function play (sid: string, form: URLSearchParams): Promise<void> {
  const call = { CallSid: sid, AccountSid: accountSid, From: form.get('From')!, To: form.get('To')!, Direction: 'outbound-api' }
  if (mode === 'busy') {
    await post('/twilio/status', { ...call, CallStatus: 'busy', CallDuration: '0' })
    return
  }
  await post('/twilio/voice', { ...call, AnsweredBy: 'human' })
  await post('/twilio/status', { ...call, AnsweredBy: 'human', CallStatus: 'completed', CallDuration: '1' })
}

const prefix = Date.now().toString(16).padStart(16, '0')
const server = createServer((req, res) => {
  let body = ''
  req.on('data', (c: Buffer) => { body += c.toString() })
  req.on('end', () => {
    res.setHeader('content-type', 'application/json')
    const switched = /^\/mode\/(answer|busy)$/.exec(req.url ?? '')
    if (switched !== null) {
      mode = switched[1] as typeof mode
      res.writeHead(204).end()
      return
    }
    if (req.headers.authorization !== expected) { res.writeHead(401).end('{"code":20003,"status":401}'); return }
    if (!(req.url ?? '').endsWith('/Calls.json')) { res.writeHead(404).end('{"status":404}'); return }
    const sid = 'CA' + prefix + (++calls).toString(16).padStart(16, '0')
    res.writeHead(201).end(JSON.stringify({ sid, status: 'queued' }))
    void play(sid, new URLSearchParams(body))
  })
})
server.listen(0, '127.0.0.1', () => { console.log(`listening http://127.0.0.1:${(server.address() as AddressInfo).port}`) })
process.on('SIGTERM', () => { console.log(`calls ${calls} failures ${failures}`); process.exit(0) })
