// Twilio's side of a call's webhooks: it posts /twilio/voice, then, as Twilio does, the URL each
// answer names (<Gather action>, <Dial action>, <Redirect>), every request signed for the URL
// Twilio was given under PUBLIC_URL. One caller over two transports: the app in-process
// (app.inject) or a server process over HTTP.
import type { App } from '../../src/app.js'
import { twilioSignature } from '../../src/twilio/signature.js'
import { PUBLIC_URL, TWILIO_TOKEN } from '../helper.js'

export const NUMBER = '+442079460018'
export const SWITCHBOARD = '+442079460000'
export const CALLER = '+447700900123'

let sidCounter = 0x500
/** A CallSid no other call of this test process has. */
export const newSid = () => 'CA' + (++sidCounter).toString(16).padStart(32, '0')

export interface Reply { status: number, body: string }

/** How a webhook reaches the server: `path` (with its query) under PUBLIC_URL, form-encoded. */
export interface TwilioTransport {
  /** The PUBLIC_URL the server was given: what action URLs start with and requests are signed for. */
  publicUrl: string
  post (path: string, params: Record<string, string>, headers?: Record<string, string>): Promise<Reply>
}

export interface SigningOptions { publicUrl?: string, token?: string }

/** The headers and body of a webhook Twilio would send to `publicUrl + path`. */
export function signedForm (path: string, params: Record<string, string>, opts: SigningOptions = {}) {
  return {
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': twilioSignature(opts.token ?? TWILIO_TOKEN, (opts.publicUrl ?? PUBLIC_URL) + path, params) },
    body: new URLSearchParams(params).toString()
  }
}

/** The app in-process. */
export function injectTransport (app: App, opts: SigningOptions = {}): TwilioTransport {
  return {
    publicUrl: opts.publicUrl ?? PUBLIC_URL,
    async post (path, params, headers = {}) {
      const { headers: signed, body } = signedForm(path, params, opts)
      const res = await app.inject({ method: 'POST', url: path, headers: { ...signed, ...headers }, payload: body })
      return { status: res.statusCode, body: res.body }
    }
  }
}

/** A server at `base` (http://127.0.0.1:port) over HTTP, behind PUBLIC_URL (or `opts.publicUrl`). */
export function httpTransport (base: string, opts: SigningOptions = {}): TwilioTransport {
  return {
    publicUrl: opts.publicUrl ?? PUBLIC_URL,
    post: async (path, params, headers = {}) => await httpPost(base, path, params, { ...opts, headers })
  }
}

/** One signed webhook to the server at `base`. */
export async function httpPost (base: string, path: string, params: Record<string, string>, opts: SigningOptions & { headers?: Record<string, string> } = {}): Promise<Reply> {
  const { headers, body } = signedForm(path, params, opts)
  const res = await fetch(base + path, { method: 'POST', headers: { ...headers, ...opts.headers }, body })
  return { status: res.status, body: await res.text() }
}

/** The token of the answer's <Stream><Parameter name="token">, if it starts a stream. */
export const streamToken = (twiml: string) => /<Parameter name="token" value="([^"]+)"/.exec(twiml)?.[1]

/**
 * The path (and query) Twilio posts to next: the action URL of the answer's `verb` (<Gather> or
 * <Dial>), the URL of its <Redirect>, or (no verb) the first action URL it holds.
 */
export function nextPath (twiml: string, verb?: 'Gather' | 'Dial' | 'Redirect', publicUrl = PUBLIC_URL): string {
  const url = verb === 'Redirect'
    ? /<Redirect[^>]*>([^<]+)<\/Redirect>/.exec(twiml)?.[1]
    : new RegExp(`${verb === undefined ? '' : `<${verb}[^>]*`} action="([^"]+)"`).exec(twiml)?.[1]
  if (url === undefined) throw new Error(`no ${verb ?? 'action'} URL in ${twiml}`)
  const plain = url.replaceAll('&amp;', '&')
  if (!plain.startsWith(publicUrl)) throw new Error(`${plain} is not under ${publicUrl}`)
  return plain.slice(publicUrl.length)
}

export interface CallerOptions {
  callSid?: string
  from?: string
  to?: string
  /** Sent with every webhook besides CallSid, From and To (AccountSid, Direction…). */
  params?: Record<string, string>
}

export type TwilioCaller = ReturnType<typeof twilioCaller>

/** One call, as Twilio makes its requests; every answer is kept in `replies`. */
export function twilioCaller (transport: TwilioTransport, opts: CallerOptions = {}) {
  const callSid = opts.callSid ?? newSid()
  const base = { CallSid: callSid, From: opts.from ?? CALLER, To: opts.to ?? NUMBER, ...opts.params }
  const replies: Reply[] = []
  const last = () => {
    const reply = replies.at(-1)
    if (reply === undefined) throw new Error('the call has not started')
    return reply.body
  }
  const post = async (path: string, params: Record<string, string> = {}, headers?: Record<string, string>): Promise<Reply> => {
    const reply = await transport.post(path, { ...base, ...params }, headers)
    replies.push(reply)
    return reply
  }
  return {
    callSid,
    /** The parameters every webhook of this call carries. */
    params: base,
    replies,
    post,
    /** Twilio's first request: the call rang the number. */
    start: async () => await post('/twilio/voice'),
    /** Keys pressed at the <Gather> of `twiml` (default: the last answer), posted to its action URL. */
    press: async (digits: string, twiml = last()) => await post(nextPath(twiml, 'Gather', transport.publicUrl), { Digits: digits }),
    /** The <Dial> of `twiml` ended with `status`, posted to its action URL. */
    dialed: async (status: string, twiml = last()) => await post(nextPath(twiml, 'Dial', transport.publicUrl), { DialCallStatus: status }),
    /** The <Redirect> of `twiml` followed. */
    redirect: async (twiml = last()) => await post(nextPath(twiml, 'Redirect', transport.publicUrl)),
    /** A status callback. */
    status: async (status: string, duration = '42') => await post('/twilio/status', { CallStatus: status, CallDuration: duration }),
    /** The stream token of `twiml` (default: the last answer). */
    token: (twiml = last()) => streamToken(twiml)
  }
}
