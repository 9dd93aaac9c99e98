// One delivering process for bench/events.ts: the server's deliverer (events/deliverer.ts) and
// the same pump as plugins/webhooks.ts (a round on every tick, another at once after a round that
// found work, at most 4 at once), without the rest of the server. It opens the database the way
// the server does and the tenant's key under the server's DATA_DIR (its local installation key).
//   env: DATABASE_URL, DATA_DIR (a server's, already used on this database), BENCH_TENANT (to load
//   its key before starting), WEBHOOK_INTERVAL_MS (default 50), WEBHOOK_ALLOW_PRIVATE=true
// Started by bench/events.ts with an IPC channel: sends { ready: true } once it can deliver,
// starts on { start: true }, and on { stop: true } finishes its rounds and sends its totals.
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

const totals = { delivered: 0, retried: 0, failed: 0, rounds: 0 }
let closing = false
let timer: NodeJS.Timeout | undefined
const rounds = new Set<Promise<unknown>>()
const pump = (): void => {
  if (closing || rounds.size >= 4) return
  totals.rounds++
  const round = deliverer.deliver().then((r) => {
    totals.delivered += r.delivered
    totals.retried += r.retried
    totals.failed += r.failed
    return r.delivered + r.retried + r.failed > 0
  }, (err: unknown) => { errors++; console.error('round failed', err); return false })
  rounds.add(round)
  void round.then((busy) => { rounds.delete(round); if (busy) pump() })
}

process.on('message', (m: { start?: boolean, stop?: boolean }) => {
  if (m.start === true) {
    timer = setInterval(pump, intervalMs)
    pump()
  }
  if (m.stop === true) {
    closing = true
    clearInterval(timer)
    void Promise.all(rounds).then(async () => {
      await database.close()
      process.send!({ totals: { ...totals, errors } }, () => process.exit(0))
    })
  }
})
process.send({ ready: true })
