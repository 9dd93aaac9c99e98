import type { Readable } from 'node:stream'
import {
  DeleteObjectCommand, GetObjectCommand, HeadBucketCommand, ListObjectsV2Command, ListObjectVersionsCommand, NoSuchKey,
  PutObjectLegalHoldCommand, PutObjectTaggingCommand
} from '@aws-sdk/client-s3'
import { Upload } from '@aws-sdk/lib-storage'
import { RETENTION_TAG } from './lifecycle.js'
import { ObjectMissing, type ObjectRef, type ObjectStore, type S3Connection } from './object-store.js'

// lib-storage buffers whole parts: up to queueSize parts in flight plus the one being filled.
// 5 MiB is S3's smallest part; a body under one part goes up as a single PutObject of its size.
export const PART_BYTES = 5 * 1024 * 1024
const PARTS_IN_FLIGHT = 2

/** The ObjectStore over an S3 connection (AWS, another S3-protocol endpoint, the embedded store). */
export function s3ObjectStore (s3: S3Connection): ObjectStore {
  const { client } = s3
  const tag = async (ref: ObjectRef, days: number) => {
    // Separately from the upload: the embedded store ignores PutObject's Tagging header.
    await client.send(new PutObjectTaggingCommand({ Bucket: ref.bucket, Key: ref.key, Tagging: { TagSet: [{ Key: RETENTION_TAG, Value: String(days) }] } }))
  }

  async function deleteAllVersions (ref: ObjectRef): Promise<number> {
    let versions: Array<{ VersionId?: string | undefined }>
    try {
      versions = (await listVersions(ref.bucket, ref.key)).filter((v) => v.Key === ref.key)
    } catch (err) {
      // The embedded store answers ListObjectVersions with "not implemented": it keeps no
      // versions, and a plain delete is then the whole object.
      if (!notImplemented(err)) throw err
      versions = []
    }
    if (versions.length === 0) {
      await client.send(new DeleteObjectCommand({ Bucket: ref.bucket, Key: ref.key }))
      return 1
    }
    for (const v of versions) {
      await client.send(new DeleteObjectCommand({ Bucket: ref.bucket, Key: ref.key, ...(v.VersionId !== undefined && v.VersionId !== 'null' ? { VersionId: v.VersionId } : {}) }))
    }
    return versions.length
  }

  async function listVersions (bucket: string, prefix: string) {
    const out: Array<{ Key?: string | undefined, VersionId?: string | undefined }> = []
    let keyMarker: string | undefined
    let versionMarker: string | undefined
    do {
      const page = await client.send(new ListObjectVersionsCommand({ Bucket: bucket, Prefix: prefix, KeyMarker: keyMarker, VersionIdMarker: versionMarker }))
      out.push(...(page.Versions ?? []), ...(page.DeleteMarkers ?? []))
      keyMarker = page.IsTruncated === true ? page.NextKeyMarker : undefined
      versionMarker = page.IsTruncated === true ? page.NextVersionIdMarker : undefined
    } while (keyMarker !== undefined)
    return out
  }

  async function keysUnder (bucket: string, prefix: string): Promise<Set<string>> {
    const keys = new Set<string>()
    try {
      for (const v of await listVersions(bucket, prefix)) if (v.Key !== undefined) keys.add(v.Key)
    } catch (err) {
      if (!notImplemented(err)) throw err
      let token: string | undefined
      do {
        const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }))
        for (const o of page.Contents ?? []) if (o.Key !== undefined) keys.add(o.Key)
        token = page.IsTruncated === true ? page.NextContinuationToken : undefined
      } while (token !== undefined)
    }
    return keys
  }

  return {
    bucket: s3.bucket,
    endpoint: s3.endpoint,
    async put (ref, body, options) {
      // At most (PARTS_IN_FLIGHT + 1) × PART_BYTES in memory whatever the size; on failure
      // lib-storage aborts the multipart upload, so no partial object is ever visible.
      await new Upload({
        client,
        params: {
          Bucket: ref.bucket,
          Key: ref.key,
          Body: body,
          ContentType: 'application/octet-stream',
          ...(options.sseKmsKeyId !== null ? { ServerSideEncryption: 'aws:kms' as const, SSEKMSKeyId: options.sseKmsKeyId } : {})
        },
        queueSize: PARTS_IN_FLIGHT,
        partSize: PART_BYTES,
        leavePartsOnError: false
      }).done()
      // After the upload: the lifecycle rule of this retention window expires it in S3 too.
      await tag(ref, options.retentionDays)
    },
    async get (ref, range) {
      try {
        const object = await client.send(new GetObjectCommand({ Bucket: ref.bucket, Key: ref.key, ...(range !== undefined ? { Range: `bytes=${range.start}-${range.end}` } : {}) }))
        return object.Body as Readable
      } catch (err) {
        // Not any 404: NoSuchBucket (a misconfigured bucket) is not a missing object.
        if (err instanceof NoSuchKey || (err as { name?: unknown } | null)?.name === 'NoSuchKey') throw new ObjectMissing(ref, { cause: err })
        throw err
      }
    },
    tagRetention: tag,
    async legalHold (ref, on) {
      await client.send(new PutObjectLegalHoldCommand({ Bucket: ref.bucket, Key: ref.key, LegalHold: { Status: on ? 'ON' : 'OFF' } }))
    },
    deleteAllVersions,
    async deleteAllUnderPrefix (bucket, prefix) {
      let deleted = 0
      for (const key of await keysUnder(bucket, prefix)) deleted += await deleteAllVersions({ bucket, key })
      return deleted
    },
    async ping () { await client.send(new HeadBucketCommand({ Bucket: s3.bucket })) },
    close: s3.close
  }
}

function notImplemented (err: unknown): boolean {
  const name = (err as { name?: string }).name
  return name === 'NotImplemented' || name === 'MethodNotAllowed' || (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 405
}
