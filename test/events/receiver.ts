// A customer's event receiver on 127.0.0.1: verifies every delivery with the Standard Webhooks
// reference library, as a real receiver would, and answers what the test tells it to.
import { createServer, type IncomingHttpHeaders } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Webhook } from 'standardwebhooks'

export interface Received {
  id: string
  timestamp: string
  type: string
  data: Record<string, unknown>
  verified: boolean
  headers: IncomingHttpHeaders
  body: string
}

export async function startReceiver (t: { teardown (fn: () => unknown): void }) {
  let secret: string | null = null
  const received: Received[] = []
  /** Status codes to answer with, in turn; then `fallback`. */
  const script: number[] = []
  let fallback = 200
  let delayMs = 0
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8')
      let verified = false
      try {
        if (secret !== null) new Webhook(secret).verify(body, req.headers as Record<string, string>)
        verified = secret !== null
      } catch {}
      const parsed = JSON.parse(body) as { type: string, data: Record<string, unknown> }
      received.push({ id: String(req.headers['webhook-id']), timestamp: String(req.headers['webhook-timestamp']), type: parsed.type, data: parsed.data, verified, headers: req.headers, body })
      const status = script.shift() ?? fallback
      setTimeout(() => { res.writeHead(status).end(status < 300 ? 'ok' : 'no') }, delayMs)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => { server.closeAllConnections(); await new Promise((resolve) => server.close(resolve)) })
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}/hooks/callgate`,
    received,
    /** The secret registration answered with: what verification uses. */
    useSecret (s: string) { secret = s },
    answer (...codes: number[]) { script.push(...codes) },
    answerAlways (code: number) { fallback = code },
    slow (ms: number) { delayMs = ms },
    types: () => received.map((r) => r.type)
  }
}
