import { DeleteObjectCommand, ListObjectsV2Command, ListObjectVersionsCommand } from '@aws-sdk/client-s3'
import type { ObjectStore } from './object-store.js'

/**
 * Deletes every version of an object, so nothing of it survives in a versioned bucket. A store
 * without versioning (the embedded one answers ListObjectVersions with "not implemented") gets a
 * plain delete, which is then the whole object.
 */
export async function deleteAllVersions (store: ObjectStore, bucket: string, key: string): Promise<number> {
  let versions: Array<{ VersionId?: string | undefined }> = []
  try {
    let keyMarker: string | undefined
    let versionMarker: string | undefined
    do {
      const page = await store.client.send(new ListObjectVersionsCommand({ Bucket: bucket, Prefix: key, KeyMarker: keyMarker, VersionIdMarker: versionMarker }))
      versions.push(...[...(page.Versions ?? []), ...(page.DeleteMarkers ?? [])].filter((v) => 'Key' in v && v.Key === key))
      keyMarker = page.IsTruncated === true ? page.NextKeyMarker : undefined
      versionMarker = page.IsTruncated === true ? page.NextVersionIdMarker : undefined
    } while (keyMarker !== undefined)
  } catch (err) {
    if (!notImplemented(err)) throw err
    versions = []
  }
  if (versions.length === 0) {
    await store.client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }))
    return 1
  }
  for (const v of versions) {
    await store.client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key, ...(v.VersionId !== undefined && v.VersionId !== 'null' ? { VersionId: v.VersionId } : {}) }))
  }
  return versions.length
}

/**
 * Deletes every version of every object under `prefix` (a tenant's whole folder), including
 * objects no row points to any more. Returns how many versions (or objects) went.
 */
export async function deletePrefix (store: ObjectStore, bucket: string, prefix: string): Promise<number> {
  const keys = new Set<string>()
  try {
    let keyMarker: string | undefined
    let versionMarker: string | undefined
    do {
      const page = await store.client.send(new ListObjectVersionsCommand({ Bucket: bucket, Prefix: prefix, KeyMarker: keyMarker, VersionIdMarker: versionMarker }))
      for (const v of [...(page.Versions ?? []), ...(page.DeleteMarkers ?? [])]) if (v.Key !== undefined) keys.add(v.Key)
      keyMarker = page.IsTruncated === true ? page.NextKeyMarker : undefined
      versionMarker = page.IsTruncated === true ? page.NextVersionIdMarker : undefined
    } while (keyMarker !== undefined)
  } catch (err) {
    if (!notImplemented(err)) throw err
    let token: string | undefined
    do {
      const page = await store.client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }))
      for (const o of page.Contents ?? []) if (o.Key !== undefined) keys.add(o.Key)
      token = page.IsTruncated === true ? page.NextContinuationToken : undefined
    } while (token !== undefined)
  }
  let deleted = 0
  for (const key of keys) deleted += await deleteAllVersions(store, bucket, key)
  return deleted
}

function notImplemented (err: unknown): boolean {
  const name = (err as { name?: string }).name
  return name === 'NotImplemented' || name === 'MethodNotAllowed' || (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 405
}
