import { HeadBucketCommand, S3Client } from '@aws-sdk/client-s3'
import type { S3Config } from '../config.js'
import { startEmbeddedS3, type S3Credentials } from './embedded-s3.js'

export interface ObjectStore {
  client: S3Client
  bucket: string
  endpoint: string | null
  /** Throws when the bucket cannot be reached. */
  ping (): Promise<void>
  close (): Promise<void>
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

/**
 * Connects to the configured S3 bucket or, when no endpoint is configured, to an S3-protocol
 * store started in-process on 127.0.0.1 over DATA_DIR/s3 (see embedded-s3.ts), so the embedded
 * default speaks the same wire protocol, signatures included, as production.
 */
export async function openObjectStore (s3: S3Config, dataDir: string, onEmbeddedError?: (err: unknown) => void): Promise<ObjectStore> {
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
    ping: async () => { await client.send(new HeadBucketCommand({ Bucket: s3.bucket })) },
    close: async () => {
      if (closed) return
      closed = true
      client.destroy()
      await embedded?.close()
    }
  }
}
