import { join } from 'node:path'
import fp from 'fastify-plugin'
import { openDatabase, type Database } from '../db/client.js'

declare module 'fastify' {
  interface FastifyInstance {
    database: Database
  }
}

export interface DatabasePluginOptions {
  /** An already-open database (tests share one per file); the app then leaves it open on close. */
  database?: Database
  /** Where the embedded PGlite lives when no DATABASE_URL is set; defaults to DATA_DIR/pglite. */
  pgliteDir?: string
}

export default fp<DatabasePluginOptions>(async (app, opts) => {
  const { config } = app
  const owned = opts.database === undefined
  const database = opts.database ?? await openDatabase({
    url: config.databaseUrl,
    pgliteDir: opts.pgliteDir ?? join(config.dataDir, 'pglite')
  })
  app.log.info({ kind: database.kind }, 'database ready')
  app.decorate('database', database)
  if (owned) app.addHook('onClose', async () => { await database.close() })
}, { name: 'database', dependencies: ['core'] })
