import type { Readable } from 'node:stream'
import { HeadBucketCommand, S3Client } from '@aws-sdk/client-s3'
import type { S3Config } from '../config.js'
import { startEmbeddedS3, type S3Credentials } from './embedded-s3.js'
import { s3ObjectStore } from './s3-object-store.js'

/** An object by its row's bucket and key: rows keep the bucket they were written to. */
export interface ObjectRef { bucket: string, key: string }

/** Bytes start..end of an object, both included (HTTP's Range). */
export interface ObjectRange { start: number, end: number }

export interface PutOptions {
  /** The retention window (days) written as the object's tag, which the bucket's lifecycle rules follow. */
  retentionDays: number
  /** Also ask S3 for SSE-KMS with this key; null: the bucket's default encryption. */
  sseKmsKeyId: string | null
}

/**
 * Everything callgate asks of object storage, and nothing more: no caller sees an S3 client or
 * sends an S3 command. Its one implementation speaks the S3 protocol (s3-object-store.ts), to AWS
 * and to the embedded store alike.
 */
export interface ObjectStore {
  /** The bucket new objects go to. */
  readonly bucket: string
  /** null: AWS's own endpoint. */
  readonly endpoint: string | null
  /** Streams `body` into the object in parts (a failed upload leaves no object), then tags its retention. */
  put (ref: ObjectRef, body: Readable, options: PutOptions): Promise<void>
  /** The object's bytes, streamed; throws ObjectMissing when the bucket does not hold it. */
  get (ref: ObjectRef, range?: ObjectRange): Promise<Readable>
  /** Re-tags the retention window (after a campaign's window changed). */
  tagRetention (ref: ObjectRef, days: number): Promise<void>
  /** Object Lock legal hold; throws where the bucket has no Object Lock. */
  legalHold (ref: ObjectRef, on: boolean): Promise<void>
  /** Deletes every version of the object (none left in a versioned bucket); returns how many went. */
  deleteAllVersions (ref: ObjectRef): Promise<number>
  /**
   * Deletes every version of every object whose key starts with `prefix` (a tenant's whole
   * folder, objects no row points to included); returns how many versions went.
   */
  deleteAllUnderPrefix (bucket: string, prefix: string): Promise<number>
  /** Throws when the bucket cannot be reached. */
  ping (): Promise<void>
  close (): Promise<void>
}

/** The bucket does not hold the object (or its latest version is a delete marker). */
export class ObjectMissing extends Error {
  override name = 'ObjectMissing'
  constructor (ref: ObjectRef, options?: { cause: unknown }) {
    super(`no object ${ref.key} in bucket ${ref.bucket}`, options)
  }
}

export interface S3ClientOptions {
  region: string
  forcePathStyle: boolean
  /** null: AWS's own endpoint. */
  endpoint: string | null
  /** Absent: the SDK's default chain (environment, profile, instance role). */
  credentials?: S3Credentials
}

/**
 * The one way callgate builds an S3 client, for AWS, another S3-protocol endpoint and the
 * embedded store alike. Bucket-level requests go to `/<bucket>` rather than the SDK's
 * `/<bucket>/` in path style: both name the bucket for S3, and the embedded store signs
 * (verifies) the path without the slash. Virtual-hosted requests (`/`) and anything with an
 * object key are left alone.
 */
export function createS3Client (o: S3ClientOptions): S3Client {
  const client = new S3Client({
    region: o.region,
    forcePathStyle: o.forcePathStyle,
    ...(o.endpoint !== null ? { endpoint: o.endpoint } : {}),
    ...(o.credentials !== undefined ? { credentials: o.credentials } : {})
  })
  client.middlewareStack.add((next) => async (args) => {
    const request = args.request as { path?: unknown }
    const input = args.input as { Key?: unknown }
    if (input.Key === undefined && typeof request.path === 'string' && /^\/[^/]+\/$/.test(request.path)) {
      request.path = request.path.slice(0, -1)
    }
    return await next(args)
  }, { step: 'build', name: 'bucketPathWithoutTrailingSlash' })
  return client
}

/** A client for the configured bucket, and the embedded store it runs against when there is one. */
export interface S3Connection {
  client: S3Client
  bucket: string
  endpoint: string | null
  close (): Promise<void>
}

/**
 * Connects to the configured S3 bucket or, when no endpoint is configured, to an S3-protocol
 * store started in-process on 127.0.0.1 over DATA_DIR/s3 (see embedded-s3.ts), so the embedded
 * default speaks the same wire protocol, signatures included, as production. The runtime uses it
 * only through openObjectStore; `npm run bucket:apply` uses it directly (bucket-policy.ts).
 */
export async function connectS3 (s3: S3Config, dataDir: string, onEmbeddedError?: (err: unknown) => void): Promise<S3Connection> {
  const embedded = s3.endpoint === null
    ? await startEmbeddedS3({ dataDir, buckets: [s3.bucket], ...(onEmbeddedError !== undefined ? { onError: onEmbeddedError } : {}) })
    : null
  const endpoint = embedded?.endpoint ?? s3.endpoint
  const client = createS3Client({
    region: s3.region,
    forcePathStyle: s3.forcePathStyle,
    endpoint,
    ...(embedded !== null ? { credentials: embedded.credentials } : {})
  })
  if (embedded !== null) {
    // configureBuckets created it; this proves the client's signature is accepted.
    try {
      await client.send(new HeadBucketCommand({ Bucket: s3.bucket }))
    } catch (err) {
      client.destroy()
      await embedded.close()
      throw err
    }
  }
  let closed = false
  return {
    client,
    bucket: s3.bucket,
    endpoint,
    close: async () => {
      if (closed) return
      closed = true
      client.destroy()
      await embedded?.close()
    }
  }
}

export async function openObjectStore (s3: S3Config, dataDir: string, onEmbeddedError?: (err: unknown) => void): Promise<ObjectStore> {
  return s3ObjectStore(await connectS3(s3, dataDir, onEmbeddedError))
}
