// The ObjectStore's S3 implementation against the embedded S3-protocol store (no mock): what
// callgate asks of storage, and that a test's own client sees the same bucket.
import { Readable } from 'node:stream'
import { buffer } from 'node:stream/consumers'
import { GetObjectTaggingCommand, ListObjectsV2Command } from '@aws-sdk/client-s3'
import t from 'tap'
import { loadEmbeddedS3Credentials } from '../../src/storage/embedded-s3.js'
import { createS3Client, ObjectMissing, openObjectStore } from '../../src/storage/object-store.js'
import { tempDir } from '../helper.js'

const dataDir = tempDir(t)
const bucket = 'store-test'
const store = await openObjectStore({ endpoint: null, bucket, region: 'us-east-1', forcePathStyle: true, sseKmsKeyId: null }, dataDir)
t.teardown(() => store.close())
const own = createS3Client({ region: 'us-east-1', forcePathStyle: true, endpoint: store.endpoint, credentials: loadEmbeddedS3Credentials(dataDir) })
t.teardown(() => { own.destroy() })
const keys = async (prefix: string) => ((await own.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }))).Contents ?? []).map((o) => o.Key).sort()
const tagOf = async (key: string) => (await own.send(new GetObjectTaggingCommand({ Bucket: bucket, Key: key }))).TagSet

t.test('put streams the body and tags its retention; get streams it back, whole or a range', async (t) => {
  const body = Buffer.from('0123456789abcdef')
  const ref = { bucket, key: 'tenant-a/2026/11/24/one.cgrec' }
  await store.put(ref, Readable.from([body.subarray(0, 7), body.subarray(7)]), { retentionDays: 30, sseKmsKeyId: null })
  t.same(await buffer(await store.get(ref)), body, 'whole')
  t.same(await buffer(await store.get(ref, { start: 2, end: 5 })), body.subarray(2, 6), 'bytes 2–5, both included')
  t.same(await tagOf(ref.key), [{ Key: 'retention-days', Value: '30' }])
  await store.tagRetention(ref, 90)
  t.same(await tagOf(ref.key), [{ Key: 'retention-days', Value: '90' }], 're-tagged')
})

t.test('a key the bucket does not hold is ObjectMissing; a bucket that does not exist is not', async (t) => {
  await t.rejects(store.get({ bucket, key: 'tenant-a/none.cgrec' }), ObjectMissing)
  const err = await store.get({ bucket: 'no-such-bucket', key: 'x' }).then(() => null, (e: unknown) => e)
  t.ok(err instanceof Error && !(err instanceof ObjectMissing), `NoSuchBucket stays an error of its own (${(err as Error).name})`)
})

t.test('deleteAllVersions and deleteAllUnderPrefix leave nothing behind; ping answers', async (t) => {
  for (const key of ['tenant-b/1', 'tenant-b/2', 'tenant-b/3', 'tenant-bb/1']) {
    await store.put({ bucket, key }, Readable.from([Buffer.from(key)]), { retentionDays: 1, sseKmsKeyId: null })
  }
  t.equal(await store.deleteAllVersions({ bucket, key: 'tenant-b/1' }), 1)
  t.same(await keys('tenant-b/'), ['tenant-b/2', 'tenant-b/3'])
  t.equal(await store.deleteAllUnderPrefix(bucket, 'tenant-b/'), 2)
  t.same(await keys('tenant-b'), ['tenant-bb/1'], 'only the prefix went')
  await t.resolves(store.ping())
})
