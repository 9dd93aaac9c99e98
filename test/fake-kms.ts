import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

interface Teardown { teardown (fn: () => unknown): void }

export interface KmsCall { target: string, body: Record<string, unknown> }

export interface FakeKms {
  endpoint: string
  calls: KmsCall[]
  /** Keys scheduled for deletion: every use of them is refused, as KMS does. */
  pendingDeletion: Set<string>
  /** Makes every call of `target` (e.g. 'TrentService.ScheduleKeyDeletion') fail with a 500, retries included. */
  fail (target: string): void
  heal (target: string): void
}

/**
 * Speaks enough of the KMS JSON protocol for the Encryption SDK's keyring and for key deletion,
 * on 127.0.0.1. It "wraps" data keys with AES-GCM under a key only this fake knows, binding key
 * id and encryption context like KMS does.
 */
export async function fakeKms (t: Teardown): Promise<FakeKms> {
  const masterKey = randomBytes(32)
  const calls: KmsCall[] = []
  const pendingDeletion = new Set<string>()
  const failing = new Set<string>()
  const aad = (keyId: unknown, ec: unknown): Buffer => Buffer.from(JSON.stringify([keyId, Object.entries(ec ?? {}).sort()]))
  const reply = (res: ServerResponse, status: number, body: unknown): void => {
    res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1' }).end(JSON.stringify(body))
  }
  const handle = (req: IncomingMessage, raw: Buffer, res: ServerResponse): void => {
    const target = String(req.headers['x-amz-target'])
    const body = JSON.parse(raw.toString('utf8')) as Record<string, unknown>
    calls.push({ target, body })
    if (req.method !== 'POST' || req.url !== '/' || !String(req.headers['content-type']).startsWith('application/x-amz-json-1.1')) {
      return reply(res, 400, { __type: 'ValidationException' })
    }
    if (failing.has(target)) return reply(res, 500, { __type: 'KMSInternalException', message: 'injected failure' })
    if (pendingDeletion.has(String(body.KeyId))) {
      return reply(res, 400, { __type: 'KMSInvalidStateException', message: `${String(body.KeyId)} is pending deletion` })
    }
    if (target === 'TrentService.GenerateDataKey') {
      const plaintext = randomBytes(Number(body.NumberOfBytes ?? 32))
      const iv = randomBytes(12)
      const cipher = createCipheriv('aes-256-gcm', masterKey, iv).setAAD(aad(body.KeyId, body.EncryptionContext))
      const blob = Buffer.concat([iv, cipher.update(plaintext), cipher.final(), cipher.getAuthTag()])
      return reply(res, 200, { KeyId: body.KeyId, Plaintext: plaintext.toString('base64'), CiphertextBlob: blob.toString('base64') })
    }
    if (target === 'TrentService.Decrypt') {
      const blob = Buffer.from(String(body.CiphertextBlob), 'base64')
      try {
        const decipher = createDecipheriv('aes-256-gcm', masterKey, blob.subarray(0, 12)).setAAD(aad(body.KeyId, body.EncryptionContext))
        decipher.setAuthTag(blob.subarray(blob.length - 16))
        const plaintext = Buffer.concat([decipher.update(blob.subarray(12, blob.length - 16)), decipher.final()])
        return reply(res, 200, { KeyId: body.KeyId, Plaintext: plaintext.toString('base64') })
      } catch {
        return reply(res, 400, { __type: 'InvalidCiphertextException', message: 'bad blob' })
      }
    }
    if (target === 'TrentService.ScheduleKeyDeletion') {
      const days = Number(body.PendingWindowInDays ?? 30)
      if (days < 7 || days > 30) return reply(res, 400, { __type: 'ValidationException', message: 'PendingWindowInDays must be 7-30' })
      pendingDeletion.add(String(body.KeyId))
      // Seconds since the epoch, as KMS's JSON protocol sends timestamps.
      return reply(res, 200, { KeyId: body.KeyId, KeyState: 'PendingDeletion', PendingWindowInDays: days, DeletionDate: Math.floor(Date.UTC(2026, 11, 1) / 1000) })
    }
    reply(res, 400, { __type: 'UnsupportedOperationException' })
  }
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c)).on('end', () => handle(req, Buffer.concat(chunks), res))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
  return { endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, calls, pendingDeletion, fail: (target) => { failing.add(target) }, heal: (target) => { failing.delete(target) } }
}
