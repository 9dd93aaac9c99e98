// How tests reach the object store around the app: a client of their own for the bucket (to
// look at what is stored, as an operator would), and interception of the app's ObjectStore
// methods (to slow or fail S3 for the app alone). The store underneath stays the real one.
import { ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3'
import type { App } from '../src/app.js'
import { loadEmbeddedS3Credentials } from '../src/storage/embedded-s3.js'
import { createS3Client, type ObjectStore } from '../src/storage/object-store.js'

const clients = new WeakMap<App, S3Client>()

/**
 * An S3 client of the test's own for the app's embedded store, signed with the credentials the
 * store generated into DATA_DIR. Its connections end when the app closes the store.
 */
export function s3Of (app: App): S3Client {
  let client = clients.get(app)
  if (client === undefined) {
    client = createS3Client({ region: app.config.s3.region, forcePathStyle: true, endpoint: app.objectStore.endpoint, credentials: loadEmbeddedS3Credentials(app.config.dataDir) })
    clients.set(app, client)
  }
  return client
}

type Methods = 'put' | 'get' | 'tagRetention' | 'legalHold' | 'deleteAllVersions' | 'deleteAllUnderPrefix' | 'ping'

/**
 * Wraps one method of the app's store (the recorder, sweeper and routes hold the same object):
 * `around` gets the arguments and the real method. Returns a function that puts the real one back.
 */
export function intercept<M extends Methods> (app: App, method: M, around: (real: ObjectStore[M], ...args: Parameters<ObjectStore[M]>) => ReturnType<ObjectStore[M]>): () => void {
  const store = app.objectStore as ObjectStore & Record<Methods, unknown>
  const real = store[method] as ObjectStore[M]
  store[method] = ((...args: Parameters<ObjectStore[M]>) => around(real, ...args)) as ObjectStore[M]
  return () => { store[method] = real }
}

/** Makes the app's S3 refuse `method` ('S3 is down') until the returned function is called. */
export function s3Down (app: App, method: Methods): () => void {
  let down = true
  const restore = intercept(app, method, (real, ...args) => {
    if (down) return Promise.reject(new Error('S3 is down')) as ReturnType<ObjectStore[typeof method]>
    return (real as (...a: unknown[]) => ReturnType<ObjectStore[typeof method]>)(...args)
  })
  return () => { down = false; restore() }
}

/** The objects stored under exactly `key` (the embedded store keeps no versions: a deleted object is gone). */
export async function objectsUnder (app: App, key: string): Promise<string[]> {
  const page = await s3Of(app).send(new ListObjectsV2Command({ Bucket: app.objectStore.bucket, Prefix: key }))
  return (page.Contents ?? []).filter((o) => o.Key === key).map((o) => o.Key!)
}
