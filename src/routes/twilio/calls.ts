import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyBaseLogger, FastifyRequest } from 'fastify'
import { Batcher } from '../../calls/batcher.js'
import { callStatus, continueCall, startCall, type CallStepDeps } from '../../calls/call-steps.js'
import { runStepBatch, type StepBatchDeps, type StepJob, type StepOutcome } from '../../calls/step-batch.js'
import { streamTokenKey } from '../../calls/stream-token.js'
import { createFlowVersionCache } from '../../db/step-sql.js'
import { emptyTwiml } from '../../twilio/twiml.js'
import { FlowParamsSchema, FlowQuerySchema, StatusParamsSchema, TwimlReply, VoiceParamsSchema } from './schemas.js'

/**
 * Twilio marks each delivery with I-Twilio-Idempotency-Token, the same on its retries. The step
 * number in the URL already tells a retry apart (calls/replay.ts), so the token is only logged,
 * to find the attempts of one delivery. The child logger is made on the first line logged: most
 * steps log nothing, and a child per request was a measurable share of the webhook's CPU.
 */
function callLog (request: FastifyRequest, callSid: string): CallStepDeps['log'] {
  let child: FastifyBaseLogger | undefined
  const log = (): FastifyBaseLogger => {
    const token = request.headers['i-twilio-idempotency-token']
    child ??= request.log.child(typeof token === 'string' ? { callSid, idempotencyToken: token } : { callSid })
    return child
  }
  return {
    info: (obj: object, msg: string) => { log().info(obj, msg) },
    warn: (obj: object, msg: string) => { log().warn(obj, msg) },
    error: (obj: object, msg: string) => { log().error(obj, msg) }
  }
}

const BATCHES_IN_FLIGHT = 4
/** Bounds the statement's size and the wait of the last step in it. */
const MAX_BATCH = 64

/** The voice webhooks: a call starts, a flow step finishes, the call's status changes. */
const callRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const shared: StepBatchDeps = {
    raw: app.database.raw,
    definitions: createFlowVersionCache(),
    clock: app.clock,
    publicUrl: app.config.publicUrl,
    numberHashKey: app.config.numberHashKey,
    streamTokenKey: streamTokenKey(app.config.linkSecret),
    rememberSwitchboard: (number, switchboard) => {
      if (switchboard === null) app.switchboards.delete(number)
      else app.switchboards.set(number, switchboard)
    }
  }
  const batcher = new Batcher<StepJob, StepOutcome>({
    run: async (jobs) => await runStepBatch(shared, jobs),
    keyOf: (job) => job.callSid,
    // PGlite runs one statement at a time; on PostgreSQL a few batches overlap, so that one
    // batch's engine work runs while another waits on the database.
    concurrency: app.database.kind === 'pglite' ? 1 : BATCHES_IN_FLIGHT,
    maxSize: MAX_BATCH
  })
  const deps = (log: CallStepDeps['log']): CallStepDeps => ({ db: app.database.db, clock: app.clock, log, steps: async (job) => await batcher.submit(job), numberHashKey: app.config.numberHashKey, dialler: app.dialler })

  app.post('/voice', {
    schema: { summary: 'A call starts: run the start of its number\'s published flow', tags: ['twilio'], body: VoiceParamsSchema, response: TwimlReply }
  }, async (request, reply) => {
    const { CallSid, From, To, Direction, AnsweredBy } = request.body
    const twiml = await startCall(deps(callLog(request, CallSid)), { callSid: CallSid, from: From, to: To, direction: Direction ?? 'inbound', ...(AnsweredBy !== undefined ? { answeredBy: AnsweredBy } : {}) })
    return reply.type('text/xml').send(twiml)
  })

  app.post('/flow', {
    schema: { summary: 'A <Gather> or <Dial> finished: continue the call at a node', tags: ['twilio'], querystring: FlowQuerySchema, body: FlowParamsSchema, response: TwimlReply }
  }, async (request, reply) => {
    const { CallSid, Digits, DialCallStatus } = request.body
    const twiml = await continueCall(deps(callLog(request, CallSid)), {
      callSid: CallSid,
      node: request.query.node,
      ...(request.query.step !== undefined ? { step: request.query.step } : {}),
      ...(Digits !== undefined ? { digits: Digits } : {}),
      ...(DialCallStatus !== undefined ? { dialStatus: DialCallStatus } : {})
    })
    return reply.type('text/xml').send(twiml)
  })

  app.post('/status', {
    schema: { summary: 'Call status callback (idempotent)', tags: ['twilio'], body: StatusParamsSchema, response: TwimlReply }
  }, async (request, reply) => {
    const { CallSid, CallStatus, CallDuration, AnsweredBy, Direction, From, To } = request.body
    const outbound = Direction?.startsWith('outbound') === true && From !== undefined && To !== undefined ? { from: From, to: To } : null
    await callStatus(deps(callLog(request, CallSid)), { callSid: CallSid, status: CallStatus, durationSeconds: CallDuration !== undefined ? Number(CallDuration) : null, answeredBy: AnsweredBy ?? null, outbound })
    return reply.type('text/xml').send(emptyTwiml())
  })
}

export default callRoutes
