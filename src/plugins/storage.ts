import fp from 'fastify-plugin'
import { openObjectStore, type ObjectStore } from '../storage/object-store.js'

declare module 'fastify' {
  interface FastifyInstance {
    objectStore: ObjectStore
  }
}

export default fp<{ objectStore?: ObjectStore }>(async (app, opts) => {
  const owned = opts.objectStore === undefined
  const store = opts.objectStore ?? await openObjectStore(app.config.s3, app.config.dataDir, (err) => {
    app.log.warn({ err }, 'embedded object store: request failed')
  })
  app.log.info({ bucket: store.bucket, endpoint: store.endpoint ?? 'aws' }, 'object store ready')
  app.decorate('objectStore', store)
  if (owned) app.addHook('onClose', async () => { await store.close() })
}, { name: 'storage', dependencies: ['core'] })
