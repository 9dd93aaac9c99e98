import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'

const Check = Type.Union([Type.Literal('ok'), Type.Literal('failed')])
const Readiness = Type.Object({ status: Type.Union([Type.Literal('ready'), Type.Literal('unavailable')]), database: Check, objectStore: Check })
const READY_TIMEOUT_MS = 2_000

const healthRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/healthz', {
    schema: { summary: 'The process is up', tags: ['health'], response: { 200: Type.Object({ status: Type.Literal('ok') }) } }
  }, async () => ({ status: 'ok' as const }))

  app.get('/readyz', {
    schema: { summary: 'The database and the object store are reachable', tags: ['health'], response: { 200: Readiness, 503: Readiness } }
  }, async (request, reply) => {
    const [database, objectStore] = await Promise.all([
      probe(() => app.database.ping(), (err) => request.log.warn({ err }, 'database not reachable')),
      probe(() => app.objectStore.ping(), (err) => request.log.warn({ err }, 'object store not reachable'))
    ])
    // What this probe learnt is the overload guard's newest word on the database.
    app.overload.noteDatabase(database === 'ok')
    const ready = database === 'ok' && objectStore === 'ok'
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'unavailable', database, objectStore })
  })
}

/** Runs a dependency check with a time limit (shared with the overload guard). */
export async function probe (check: () => Promise<void>, onFail: (err: unknown) => void): Promise<'ok' | 'failed'> {
  let timer: NodeJS.Timeout | undefined
  try {
    await Promise.race([
      check(),
      new Promise((_resolve, reject) => { timer = setTimeout(() => reject(new Error(`no answer within ${READY_TIMEOUT_MS} ms`)), READY_TIMEOUT_MS) })
    ])
    return 'ok'
  } catch (err) {
    onFail(err)
    return 'failed'
  } finally {
    clearTimeout(timer)
  }
}

export default healthRoutes
