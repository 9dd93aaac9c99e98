import { randomBytes } from 'node:crypto'
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import S3rver from '@20minutes/s3rver'
import AWSAccount from '@20minutes/s3rver/lib/models/account.js'

export interface S3Credentials { accessKeyId: string, secretAccessKey: string }

export interface EmbeddedS3 {
  /** `http://127.0.0.1:<port>`, for an S3Client with `forcePathStyle: true`. */
  endpoint: string
  credentials: S3Credentials
  close (): Promise<void>
}

export interface EmbeddedS3Options {
  /** Objects go to `dataDir/s3`; the store's credentials to `dataDir/s3-credentials.json`. */
  dataDir: string
  /** 0 (the default) picks a free port. */
  port?: number
  /** Buckets created before the first request. */
  buckets?: string[]
  /** Told about every error inside the store's request handling (none of them ends the process). */
  onError?: (err: unknown) => void
}

/**
 * The store's credentials, generated on first use into DATA_DIR (mode 0600) so that nothing but
 * this installation can sign for it: the store listens on loopback, where any local process (or a
 * server-side request forgery) could otherwise write or delete recordings.
 */
export function loadEmbeddedS3Credentials (dataDir: string): S3Credentials {
  const file = join(dataDir, 's3-credentials.json')
  try {
    const stored = JSON.parse(readFileSync(file, 'utf8')) as Partial<S3Credentials>
    if (typeof stored.accessKeyId === 'string' && /^[A-Z0-9]{20}$/.test(stored.accessKeyId) &&
        typeof stored.secretAccessKey === 'string' && stored.secretAccessKey.length >= 40) {
      return { accessKeyId: stored.accessKeyId, secretAccessKey: stored.secretAccessKey }
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
  mkdirSync(dataDir, { recursive: true, mode: 0o700 })
  const credentials = {
    // The shape of an AWS access key id (20 upper-case letters and digits), so tools accept it.
    accessKeyId: 'CG' + [...randomBytes(18)].map((b) => 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'[b & 31]).join(''),
    secretAccessKey: randomBytes(30).toString('base64url')
  }
  const tmp = `${file}.${process.pid}.tmp`
  writeFileSync(tmp, JSON.stringify(credentials, null, 2) + '\n', { mode: 0o600, flag: 'wx' })
  renameSync(tmp, file)
  return credentials
}

const SIGV4_HEADER = /^AWS4-HMAC-SHA256 +Credential=([^/,\s]+)\//
const SIGV4_QUERY = /^([^/]+)\//

/** The access key a SigV4 request names (in its Authorization header or presigned query), or null. */
function signingKeyId (req: IncomingMessage, url: URL): string | null {
  const header = req.headers.authorization
  const query = url.searchParams.get('X-Amz-Credential')
  if (header !== undefined && query === null) return SIGV4_HEADER.exec(header)?.[1] ?? null
  if (header === undefined && query !== null && url.searchParams.get('X-Amz-Algorithm') === 'AWS4-HMAC-SHA256') {
    return SIGV4_QUERY.exec(query)?.[1] ?? null
  }
  return null
}

function refuse (res: ServerResponse, status: number, code: string, message: string): void {
  const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message></Error>`
  res.writeHead(status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body), connection: 'close' })
  res.end(body)
}

// s3rver keeps keys in one registry per process (several stores may run in one test process).
const keyUsers = new Map<string, number>()

function registerKey (c: S3Credentials): void {
  // The published default key must never sign.
  AWSAccount.DUMMY_ACCOUNT.revokeAccessKey('S3RVER')
  AWSAccount.DUMMY_ACCOUNT.createKeyPair(c.accessKeyId, c.secretAccessKey)
  keyUsers.set(c.accessKeyId, (keyUsers.get(c.accessKeyId) ?? 0) + 1)
}

function unregisterKey (c: S3Credentials): void {
  const users = (keyUsers.get(c.accessKeyId) ?? 1) - 1
  if (users > 0) { keyUsers.set(c.accessKeyId, users); return }
  keyUsers.delete(c.accessKeyId)
  AWSAccount.DUMMY_ACCOUNT.revokeAccessKey(c.accessKeyId)
}

/**
 * Starts the S3-protocol store (@20minutes/s3rver) on 127.0.0.1 over `dataDir/s3`, answering only
 * requests signed (SigV4) with the credentials in DATA_DIR. s3rver verifies signatures but lets
 * unsigned requests through as anonymous, and its only key is the published S3RVER/S3RVER: the
 * front handler here refuses anything not naming this store's key before s3rver sees it, and
 * s3rver then checks the signature against the secret.
 */
export async function startEmbeddedS3 (o: EmbeddedS3Options): Promise<EmbeddedS3> {
  const credentials = loadEmbeddedS3Credentials(o.dataDir)
  const directory = join(o.dataDir, 's3')
  mkdirSync(directory, { recursive: true, mode: 0o700 })
  registerKey(credentials)
  const onError = o.onError ?? (() => {})
  // Served by the node server below (not s3rver's own listen), which checks every request first.
  const store = new S3rver({
    silent: true,
    directory,
    // Only path-style requests to 127.0.0.1: never take the Host header for a bucket name.
    vhostBuckets: false,
    configureBuckets: (o.buckets ?? []).map((name) => ({ name }))
  })
  // Koa's default 'error' listener prints to stderr; the caller decides what to log. s3rver
  // throws its S3 error answers (NoSuchKey, AccessDenied…) too: only failures are passed on.
  store.on('error', (err: unknown) => {
    const status = (err as { status?: unknown }).status
    if (typeof status !== 'number' || status >= 500) onError(err)
  })
  try {
    await store.configureBuckets()
  } catch (err) {
    unregisterKey(credentials)
    store.logger.close()
    throw err
  }
  const handle = store.callback()
  const server = createServer((req, res) => {
    try {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1')
      if (signingKeyId(req, url) !== credentials.accessKeyId) {
        refuse(res, 403, 'AccessDenied', 'Requests must be signed (AWS SigV4) with the credentials in DATA_DIR/s3-credentials.json.')
        return
      }
      // A browser-form upload (POST /<bucket>) carries its signature in a policy s3rver does not
      // check, and callgate never sends one: its multipart parser is no attack surface here.
      if (req.method === 'POST' && /^\/[^/]+\/?$/.test(url.pathname) && url.search === '') {
        refuse(res, 405, 'MethodNotAllowed', 'POST object (browser-form upload) is not supported by the embedded store.')
        return
      }
      void Promise.resolve(handle(req, res)).catch((err: unknown) => {
        onError(err)
        if (!res.headersSent) refuse(res, 500, 'InternalError', 'The embedded store failed.')
        else res.destroy()
      })
    } catch (err) {
      onError(err)
      if (!res.headersSent) refuse(res, 500, 'InternalError', 'The embedded store failed.')
      else res.destroy()
    }
  })
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    if (err.code !== 'ECONNRESET') onError(err)
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n')
    else socket.destroy()
  })
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(o.port ?? 0, '127.0.0.1', () => { server.off('error', reject); resolve() })
    })
  } catch (err) {
    unregisterKey(credentials)
    store.logger.close()
    throw err
  }
  server.on('error', onError)
  const { port } = server.address() as AddressInfo
  let closing: Promise<void> | null = null
  return {
    endpoint: `http://127.0.0.1:${port}`,
    credentials,
    close: async () => {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => { resolve() })
        server.closeAllConnections()
      }).then(() => {
        unregisterKey(credentials)
        store.logger.close()
      })
      await closing
    }
  }
}
