// The embedded S3-protocol store (the default when S3_ENDPOINT is unset) listens on 127.0.0.1 in
// the server's process: any local process can reach it, so it must answer only requests signed
// with the installation's own credentials, and no request may take the process down.
import { createHash } from 'node:crypto'
import { statSync } from 'node:fs'
import { request } from 'node:http'
import { join } from 'node:path'
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3'
import { eq } from 'drizzle-orm'
import t from 'tap'
import { recordings } from '../../src/db/schema.js'
import type { App } from '../../src/app.js'
import { recordCall, setup } from '../media-helpers.js'
import { s3Of } from '../storage-helpers.js'

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex')

/** A plain HTTP request to the store, as any local process could send it (no signature). */
async function raw (endpoint: string, method: string, path: string, body?: Buffer, headers: Record<string, string> = {}): Promise<{ status: number, body: string }> {
  return await new Promise((resolve, reject) => {
    const req = request(endpoint + path, { method, headers: { ...(body !== undefined ? { 'content-length': String(body.length) } : {}), ...headers } }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }) })
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end(body)
  })
}

/** One app on the embedded default with one recording stored through the real pipeline. */
async function storedRecording () {
  const { app } = await setup(t)
  const { recordingId } = await recordCall(app, '+447700900555', 1)
  const [row] = await app.database.db.select().from(recordings).where(eq(recordings.id, recordingId))
  const endpoint = app.objectStore.endpoint!
  const read = async () => {
    const object = await s3Of(app).send(new GetObjectCommand({ Bucket: row!.bucket, Key: row!.key }))
    return sha256(await object.Body!.transformToByteArray())
  }
  return { app, row: row!, endpoint, path: `/${row!.bucket}/${row!.key}`, read, before: await read() }
}

async function ready (app: App): Promise<number> {
  return (await app.inject({ method: 'GET', url: '/readyz' })).statusCode
}

const { app, row, endpoint, path, read, before } = await storedRecording()

t.test('unsigned requests are refused and change nothing', async (t) => {
  t.match(endpoint, /^http:\/\/127\.0\.0\.1:\d+$/, 'the embedded store is on loopback')

  const put = await raw(endpoint, 'PUT', path, Buffer.from('overwritten by a local process'))
  t.equal(put.status, 403, 'an unsigned PUT over a recording is refused')
  t.match(put.body, /AccessDenied/)
  const del = await raw(endpoint, 'DELETE', path)
  t.equal(del.status, 403, 'an unsigned DELETE of a recording is refused')
  const get = await raw(endpoint, 'GET', path)
  t.equal(get.status, 403, 'an unsigned GET of a recording is refused')
  const list = await raw(endpoint, 'GET', `/${app.objectStore.bucket}?list-type=2`)
  t.equal(list.status, 403, 'an unsigned listing is refused')
  const forged = await raw(endpoint, 'DELETE', path, undefined, { authorization: 'AWS S3RVER:aGVsbG8=', date: new Date().toUTCString() })
  t.equal(forged.status, 403, 's3rver\'s published default key signs nothing')

  t.equal(await read(), before, 'the recording is intact (read back with the signed client)')
})

t.test('requests signed with other credentials are refused and change nothing', async (t) => {
  const own = await s3Of(app).config.credentials()

  for (const [what, credentials] of [
    ['an unknown key', { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: own.secretAccessKey }],
    ['the right key with a wrong secret', { accessKeyId: own.accessKeyId, secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' }],
    ['s3rver\'s default credentials', { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' }]
  ] as const) {
    const client = new S3Client({ region: 'us-east-1', endpoint, forcePathStyle: true, credentials, maxAttempts: 1 })
    t.teardown(() => { client.destroy() })
    const err = await client.send(new PutObjectCommand({ Bucket: row.bucket, Key: row.key, Body: 'forged' })).then(() => null, (e: { $metadata?: { httpStatusCode?: number } }) => e)
    t.equal(err?.$metadata?.httpStatusCode, 403, `a PUT signed with ${what} is refused`)
  }
  t.equal(await read(), before, 'the recording is intact')
  const file = join(app.config.dataDir, 's3-credentials.json')
  t.equal(statSync(file).mode & 0o777, 0o600, 'the credentials are kept in DATA_DIR, readable by the owner only')
})

// A part header starting with a continuation line made dicer (s3rver 3) throw outside any
// handler (CVE-2022-24434); a truncated file part makes busboy (the fork's parser) emit an
// 'error' nobody listens to. Both ended the whole server.
const BOUNDARY = 'XB'
const MALFORMED = [
  ['a header continuation line first (dicer, CVE-2022-24434)', `--${BOUNDARY}\r\n Content-Disposition: form-data; name="a"\r\n\r\n\r\n--${BOUNDARY}--`],
  ['a truncated file part (busboy)', `--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="a"\r\n\r\nxx`]
] as const

t.test('a malformed multipart POST to the bucket leaves the server up', async (t) => {
  for (const [what, body] of MALFORMED) {
    const res = await raw(endpoint, 'POST', `/${row.bucket}`, Buffer.from(body), { 'content-type': `multipart/form-data; boundary=${BOUNDARY}` })
    t.equal(res.status, 403, `unsigned, ${what}: refused`)

    // The same body signed with the store's own credentials (a PutObject rewritten before signing).
    const command = new PutObjectCommand({ Bucket: row.bucket, Key: 'probe', Body: body })
    command.middlewareStack.add((next) => async (args) => {
      const req = args.request as { method: string, path: string, query: Record<string, string>, headers: Record<string, string>, body: unknown }
      req.method = 'POST'
      req.path = `/${row.bucket}`
      req.query = {}
      for (const name of Object.keys(req.headers)) if (/^(x-amz-checksum|x-amz-sdk-checksum|content-md5)/i.test(name)) delete req.headers[name]
      req.headers['content-type'] = `multipart/form-data; boundary=${BOUNDARY}`
      req.headers['content-length'] = String(Buffer.byteLength(body))
      req.body = body
      return await next(args)
    }, { step: 'build', priority: 'low', name: 'formPost' })
    const err = await s3Of(app).send(command).then(() => null, (e: { $metadata?: { httpStatusCode?: number } }) => e)
    t.equal(err?.$metadata?.httpStatusCode, 405, `signed, ${what}: refused (browser-form upload is not served)`)

    t.equal((await raw(endpoint, 'GET', path)).status, 403, 'the store still answers')
    t.equal(await ready(app), 200, '/readyz is still 200')
  }
  t.equal(await read(), before, 'the recording is intact')
})

t.test('a request that breaks off mid-body does not take the store down', async (t) => {
  await new Promise<void>((resolve) => {
    const req = request(endpoint + path, { method: 'PUT', headers: { 'content-length': '100000' } })
    req.on('error', () => { resolve() })
    req.on('response', () => { resolve() })
    req.write(Buffer.alloc(10), () => { setTimeout(() => { req.destroy(); resolve() }, 50) })
  })
  t.equal(await ready(app), 200, '/readyz is still 200')
  t.equal(await read(), before, 'the recording is intact')
})
