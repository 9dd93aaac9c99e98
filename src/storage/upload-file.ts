import { createReadStream } from 'node:fs'
import { Upload } from '@aws-sdk/lib-storage'
import type { ObjectStore } from './object-store.js'

// lib-storage buffers whole parts: up to queueSize parts in flight plus the one being filled.
// 5 MiB is S3's smallest part; a file under one part goes up as a single PutObject of its size.
export const PART_BYTES = 5 * 1024 * 1024
const PARTS_IN_FLIGHT = 2

export interface UploadFileInput {
  bucket: string
  key: string
  file: string
  /** Also ask S3 for SSE-KMS with this key; null: none. */
  sseKmsKeyId: string | null
}

/**
 * Streams a file into the bucket in parts: at most (PARTS_IN_FLIGHT + 1) × PART_BYTES in memory,
 * whatever the file's size. On failure lib-storage aborts the multipart upload, so no partial
 * object is ever visible.
 */
export async function uploadFile (store: Pick<ObjectStore, 'client'>, input: UploadFileInput): Promise<void> {
  await new Upload({
    client: store.client,
    params: {
      Bucket: input.bucket,
      Key: input.key,
      Body: createReadStream(input.file, { highWaterMark: 1024 * 1024 }),
      ContentType: 'application/octet-stream',
      ...(input.sseKmsKeyId !== null ? { ServerSideEncryption: 'aws:kms' as const, SSEKMSKeyId: input.sseKmsKeyId } : {})
    },
    queueSize: PARTS_IN_FLIGHT,
    partSize: PART_BYTES,
    leavePartsOnError: false
  }).done()
}
