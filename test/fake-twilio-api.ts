import { randomBytes } from 'node:crypto'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'

export interface FakeTwilioApi {
  /** For TWILIO_API_URL / createTwilioCalls' twilioApiUrl. */
  url: string
  /** Every request received: its path and its form body. */
  requests: Array<{ path: string, form: URLSearchParams }>
  /** The next request is answered with Twilio's error document (HTTP 400, code 21211). */
  failNext (): void
}

/**
 * Twilio's REST API as far as callgate uses it (Calls.json, Streams.json, IncomingPhoneNumbers),
 * on 127.0.0.1. `owned`: the account's phone numbers (E.164), found by IncomingPhoneNumbers.json.
 */
export interface FakeTwilioOptions {
  owned?: string[]
  /** Requests without HTTP Basic auth of this account are answered 401, as Twilio does. */
  auth?: { accountSid: string, authToken: string }
  /** Called after a call is created and answered (Calls.json): Twilio's side of the call goes on from here. */
  placed?: (call: { sid: string, form: URLSearchParams }) => void
}

export async function fakeTwilioApi (t: { teardown (fn: () => unknown): void }, opts: FakeTwilioOptions = {}): Promise<FakeTwilioApi> {
  const requests: FakeTwilioApi['requests'] = []
  let failing = false
  let sid = 0
  const prefix = randomBytes(8).toString('hex')
  const server = createServer((req, res) => {
    let body = ''
    req.on('data', (c: Buffer) => { body += c.toString() })
    req.on('end', () => {
      requests.push({ path: req.url ?? '', form: new URLSearchParams(body) })
      res.setHeader('content-type', 'application/json')
      if (opts.auth !== undefined && req.headers.authorization !== 'Basic ' + Buffer.from(`${opts.auth.accountSid}:${opts.auth.authToken}`).toString('base64')) {
        res.writeHead(401).end(JSON.stringify({ code: 20003, message: 'Authenticate', status: 401 }))
        return
      }
      if (failing) {
        failing = false
        res.writeHead(400).end(JSON.stringify({ code: 21211, message: "The 'To' number is not a valid phone number.", status: 400 }))
        return
      }
      const url = new URL(req.url ?? '/', 'http://twilio.test')
      if (url.pathname.endsWith('/IncomingPhoneNumbers.json')) {
        const wanted = url.searchParams.get('PhoneNumber')
        const numbers = (opts.owned ?? []).filter((n) => wanted === null || n === wanted)
          .map((n) => ({ sid: 'PN' + Buffer.from(n).toString('hex').padEnd(32, '0').slice(0, 32), phone_number: n }))
        res.writeHead(200).end(JSON.stringify({ incoming_phone_numbers: numbers, next_page_uri: null, page: 0, page_size: 50, uri: url.pathname, first_page_uri: url.pathname, previous_page_uri: null }))
        return
      }
      const number = /\/IncomingPhoneNumbers\/(PN[0-9a-f]{32})\.json$/.exec(url.pathname)
      if (number !== null) {
        res.writeHead(200).end(JSON.stringify({ sid: number[1], voice_url: new URLSearchParams(body).get('VoiceUrl') }))
        return
      }
      // Unique across the stand-ins of a test process (two servers may share one database).
      const made = prefix + (++sid).toString(16).padStart(16, '0')
      const stream = req.url?.includes('/Streams') === true
      res.writeHead(201).end(JSON.stringify(stream ? { sid: 'MZ' + made, status: 'in-progress' } : { sid: 'CA' + made, status: 'queued' }))
      if (!stream && opts.placed !== undefined) opts.placed({ sid: 'CA' + made, form: new URLSearchParams(body) })
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests, failNext: () => { failing = true } }
}
