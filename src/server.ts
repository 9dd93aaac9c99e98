import { buildApp } from './app.js'
import { ConfigError, loadConfig } from './config.js'
import { DataDirRefused } from './data-dir-access.js'
import { InconsistentInstallation } from './plugins/consistency.js'
import { SpoolInUse } from './recording/spool-lock.js'

// Everything this process writes (secrets, keyring, spool, exports, the embedded S3 store's
// objects) is for this user alone, from birth: start-up tightening only fixes what was there before.
process.umask(0o077)

let config
try {
  config = loadConfig(process.env)
} catch (err) {
  if (err instanceof DataDirRefused) {
    console.error(`callgate: ${err.message}`)
    process.exit(1)
  }
  if (!(err instanceof ConfigError)) throw err
  console.error(`callgate: invalid configuration: ${err.message}`)
  process.exit(2)
}

const app = await buildApp(config).catch((err: unknown) => {
  // Refusals that say what to fix: printed plainly, not as a stack trace.
  if (!(err instanceof SpoolInUse) && !(err instanceof InconsistentInstallation) && !(err instanceof DataDirRefused)) throw err
  console.error(`callgate: ${err.message}`)
  process.exit(1)
})

// Printed to stderr, apart from the JSON log on stdout: secrets have no place in log storage, and
// a log shipper reading stdout never sees them.
if (config.generated.includes('adminToken')) console.error(`ADMIN_TOKEN (generated, stored in ${config.dataDir}/secrets.json): ${config.adminToken}`)
if (config.generated.includes('twilioAuthToken')) console.error(`TWILIO_AUTH_TOKEN (generated, stored in ${config.dataDir}/secrets.json): ${config.twilioAuthToken}`)

let closing = false
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    if (closing) return
    closing = true
    app.log.info({ signal }, 'shutting down: no new connections, finishing requests in flight')
    // Fastify's close stops the listener, waits for requests in flight, then runs the onClose hooks (database, storage).
    app.close().then(() => process.exit(0), (err: unknown) => {
      app.log.error({ err }, 'shutdown failed')
      process.exit(1)
    })
  })
}

await app.listen({ port: config.port, host: config.host })
app.log.info({ publicUrl: config.publicUrl, database: app.database.kind }, 'callgate listening')
