import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { CreateBucketCommand, HeadBucketCommand, S3Client } from '@aws-sdk/client-s3'
import type { S3Config } from '../config.js'

export interface ObjectStore {
  client: S3Client
  bucket: string
  endpoint: string | null
  /** Throws when the bucket cannot be reached. */
  ping (): Promise<void>
  close (): Promise<void>
}

/**
 * Connects to the configured S3 bucket or, when no endpoint is configured, to an S3-protocol
 * store started in-process on 127.0.0.1 over DATA_DIR/s3, so the embedded default speaks the
 * same wire protocol as production.
 */
export async function openObjectStore (s3: S3Config, dataDir: string): Promise<ObjectStore> {
  let endpoint = s3.endpoint
  let stopEmbedded = async (): Promise<void> => {}
  let credentials: { accessKeyId: string, secretAccessKey: string } | undefined
  if (endpoint === null) {
    const { default: S3rver } = await import('s3rver')
    const directory = join(dataDir, 's3')
    mkdirSync(directory, { recursive: true })
    const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory })
    const { port } = await server.run()
    endpoint = `http://127.0.0.1:${port}`
    stopEmbedded = () => server.close()
    // s3rver's fixed development credentials; it is reachable only on loopback.
    credentials = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' }
  }
  const client = new S3Client({
    region: s3.region,
    forcePathStyle: s3.forcePathStyle,
    ...(endpoint !== null ? { endpoint } : {}),
    ...(credentials !== undefined ? { credentials } : {})
  })
  if (s3.endpoint === null) {
    try {
      await client.send(new HeadBucketCommand({ Bucket: s3.bucket }))
    } catch {
      await client.send(new CreateBucketCommand({ Bucket: s3.bucket }))
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
      await stopEmbedded()
    }
  }
}
