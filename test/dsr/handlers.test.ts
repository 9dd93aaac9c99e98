import { eq } from 'drizzle-orm'
import t from 'tap'
import type { Principal } from '../../src/auth/principal.js'
import { calls, dsrRequests } from '../../src/db/schema.js'
import { dsrHandlers, DsrTypeSchema } from '../../src/dsr/handlers.js'
import { createDsrRequests } from '../../src/dsr/requests.js'
import { BadRequest, Conflict } from '../../src/errors.js'
import { CALLER, caller, setup } from '../call-setup.js'

const refusal = (p: Promise<unknown>) => p.then(() => null, (e: unknown) => e)

t.test('the handler table has exactly one handler per DSR type the API accepts', async (t) => {
  const accepted = DsrTypeSchema.anyOf.map((literal) => literal.const).sort()
  t.same(accepted, ['access', 'erasure', 'rectification', 'restriction'])
  t.same(Object.keys(dsrHandlers).sort(), accepted)
  for (const type of accepted) t.type(dsrHandlers[type].run, 'function', `${type} runs`)
})

t.test('the DSR service, without HTTP', async (t) => {
  const { app, clock, tenantId } = await setup(t)
  const call = caller(app)
  await call.start()
  await call.status('completed')

  const discarded: Array<{ ids: string[], committed: number }> = []
  const requests = createDsrRequests({
    db: app.database.db,
    store: app.objectStore,
    clock,
    publicUrl: app.config.publicUrl,
    linkSecret: app.config.linkSecret,
    numberHashKey: app.config.numberHashKey,
    recorder: {
      // Counts the erasure rows another connection can already see: after commit, one.
      discardErased: async (ids) => { discarded.push({ ids, committed: (await app.database.db.select().from(dsrRequests).where(eq(dsrRequests.type, 'erasure'))).length }) }
    }
  })
  const controller: Principal = { userId: null, tenantId, role: 'controller', actor: 'user:controller' }
  const rows = async () => (await app.database.db.select().from(dsrRequests)).length

  t.test('refused before anything is written', async (t) => {
    const before = await rows()
    const bare = await refusal(requests.submit(controller, { type: 'rectification', number: CALLER }))
    t.ok(bare instanceof BadRequest)
    t.match(bare, { message: 'body/corrections is required for rectification' })
    t.match(await refusal(requests.submit(controller, { type: 'rectification', number: CALLER, corrections: {} })), { statusCode: 400 })
    t.match(await refusal(requests.submit({ ...controller, role: 'agent' }, { type: 'access', number: CALLER })), { statusCode: 403 })
    t.equal(await rows(), before, 'no request row')
  })

  t.test('access: a summary and the export', async (t) => {
    const done = await requests.submit(controller, { type: 'access', number: CALLER })
    t.match(done.row, { type: 'access', status: 'completed', numberHash: 'completed', result: { calls: 1 } })
    t.match(done.export, { json: { number: CALLER, calls: [{ callSid: call.callSid }] }, csv: { calls: /callSid/ } })
  })

  t.test('restriction: stays active and keeps the hash; a second one is a conflict', async (t) => {
    const done = await requests.submit(controller, { type: 'restriction', number: CALLER })
    t.match(done.row, { status: 'active', result: { calls: 1 } })
    t.not(done.row.numberHash, 'completed')
    t.equal(done.export, undefined)
    const before = await rows()
    t.ok(await refusal(requests.submit(controller, { type: 'restriction', number: CALLER })) instanceof Conflict)
    t.equal(await rows(), before)
    t.match(await requests.lift(controller, done.row.id), { status: 'lifted', numberHash: 'lifted' })
    t.match(await refusal(requests.lift(controller, done.row.id)), { statusCode: 409, message: 'only a restriction in force can be lifted' })
  })

  t.test('rectification: the corrected attributes', async (t) => {
    const done = await requests.submit(controller, { type: 'rectification', number: CALLER, corrections: { name: 'Ada' } })
    t.match(done.row.result, { callsUpdated: 1, fields: ['name'] })
    const [row] = await app.database.db.select().from(calls).where(eq(calls.callSid, call.callSid))
    t.equal(row!.attributes.name, 'Ada')
  })

  t.test('erasure: the calls go, and the recorder hears of it once the request has committed', async (t) => {
    const done = await requests.submit(controller, { type: 'erasure', number: CALLER })
    t.match(done.row.result, { callsDeleted: 1 })
    t.equal((await app.database.db.select().from(calls).where(eq(calls.callSid, call.callSid))).length, 0)
    t.same(discarded, [{ ids: [], committed: 1 }])
  })
})
