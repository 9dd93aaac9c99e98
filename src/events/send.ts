import { request as httpRequest } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { isIP } from 'node:net'
import { isPrivateAddress, PrivateAddress, publicLookup } from './address-guard.js'

export interface SendResult {
  /** The endpoint's status code; null when none came (refused, timed out, address not allowed). */
  status: number | null
  error: string | null
}

/** The longest a delivery waits for an endpoint's answer. */
export const SEND_TIMEOUT_MS = 10_000

/**
 * POSTs one signed event. Redirects are not followed (a 3xx is a failure, like any non-2xx); the
 * answer's body is read and dropped, never stored. Without `allowPrivate`, the connection may only
 * go to a public address, checked on the address actually connected to.
 */
export async function send (url: string, headers: Record<string, string>, body: string, allowPrivate: boolean, timeoutMs = SEND_TIMEOUT_MS): Promise<SendResult> {
  const target = new URL(url)
  const literal = target.hostname.replace(/^\[(.*)\]$/, '$1')
  if (!allowPrivate && isIP(literal) !== 0 && isPrivateAddress(literal)) return { status: null, error: new PrivateAddress(literal, literal).message }
  const request = target.protocol === 'https:' ? httpsRequest : httpRequest
  return await new Promise<SendResult>((resolve) => {
    const req = request(target, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'user-agent': 'callgate-webhooks' },
      ...(allowPrivate ? {} : { lookup: publicLookup }),
      signal: AbortSignal.timeout(timeoutMs)
    }, (res) => {
      res.resume()
      res.on('end', () => { resolve({ status: res.statusCode ?? null, error: null }) })
      res.on('error', (err) => { resolve({ status: res.statusCode ?? null, error: err.message }) })
    })
    req.on('error', (err) => { resolve({ status: null, error: err.name === 'AbortError' ? `no answer within ${timeoutMs / 1000} s` : err.message }) })
    req.end(body)
  })
}
