import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import fp from 'fastify-plugin'
import type { OffboardDeps } from '../offboarding/offboard.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** What tenant export and offboarding need, assembled once. */
    offboarding: OffboardDeps
  }
}

export default fp(async (app) => {
  const exportDir = join(app.config.dataDir, 'exports')
  const workDir = join(app.config.dataDir, 'tmp')
  await mkdir(exportDir, { recursive: true, mode: 0o700 })
  await mkdir(workDir, { recursive: true, mode: 0o700 })
  app.decorate('offboarding', {
    db: app.database.db,
    store: app.objectStore,
    tenantKeys: app.tenantKeys,
    clock: app.clock,
    workDir,
    exportDir,
    kms: app.kmsOptions,
    log: app.log
  })
}, { name: 'offboarding', dependencies: ['core', 'database', 'storage', 'keys'] })
