import { DeleteObjectCommand, ListObjectVersionsCommand } from '@aws-sdk/client-s3'
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
    const name = (err as { name?: string }).name
    if (name !== 'NotImplemented' && name !== 'MethodNotAllowed' && (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode !== 405) throw err
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
