// One delivering process for bench/events.ts: the server's deliverer (events/deliverer.ts), run
// by its start() as plugins/webhooks.ts runs it, without the rest of the server. It opens the
// database the way the server does and the tenant's key under the server's DATA_DIR (its local
// installation key).
//   env: DATABASE_URL, DATA_DIR (a server's, already used on this database), BENCH_TENANT (to load
//   its key before starting), WEBHOOK_INTERVAL_MS (default 50), WEBHOOK_ALLOW_PRIVATE=true
// Started by bench/events.ts with an IPC channel: sends { ready: true } once it can deliver,
// starts on { start: true }, and on { stop: true } finishes its rounds and sends its error count.
import { join } from 'node:path'
import { systemClock } from '../src/clock.js'
import { createKeyring } from '../src/crypto/keyring.js'
import { createTenantKeys } from '../src/crypto/tenant-keys.js'
import { openDatabase } from '../src/db/client.js'
import { createDeliverer } from '../src/events/deliverer.js'

const url = process.env.DATABASE_URL
const dataDir = process.env.DATA_DIR
const tenantId = process.env.BENCH_TENANT
if (url === undefined || dataDir === undefined || tenantId === undefined || process.send === undefined) throw new Error('events-worker: DATABASE_URL, DATA_DIR, BENCH_TENANT and an IPC channel are needed')
const intervalMs = Number(process.env.WEBHOOK_INTERVAL_MS ?? 50)

const database = await openDatabase({ url, pgliteDir: join(dataDir, 'pglite') })
const installation = await createKeyring({ kms: { keyId: null, endpoint: null, region: 'us-east-1' }, dataDir })
const tenantKeys = createTenantKeys({ db: database.db, installation, kmsKeyring: () => { throw new Error('events-worker: no KMS in the bench') }, clock: systemClock })
// The first use unwraps the tenant's key: done before the clock starts.
await tenantKeys.fieldsOf(tenantId)

let errors = 0
const deliverer = createDeliverer({
  db: database.db,
  clock: systemClock,
  wallClock: systemClock,
  fields: async (id) => await tenantKeys.fieldsOf(id),
  allowPrivate: process.env.WEBHOOK_ALLOW_PRIVATE === 'true',
  log: { warn: () => {}, info: () => {}, error: (obj, msg) => { errors++; console.error(msg, obj) } }
})

let running: { stop (): Promise<void> } | undefined

process.on('message', (m: { start?: boolean, stop?: boolean }) => {
  if (m.start === true) {
    running = deliverer.start(intervalMs, (err) => { errors++; console.error('round failed', err) })
    void deliverer.deliver()
  }
  if (m.stop === true) {
    void (async () => {
      await running?.stop()
      await database.close()
      process.send!({ totals: { errors } }, () => process.exit(0))
    })()
  }
})
process.send({ ready: true })
