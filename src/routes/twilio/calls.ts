import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { callStatus, continueCall, startCall, type CallStepDeps } from '../../calls/call-steps.js'
import { emptyTwiml } from '../../twilio/twiml.js'
import { FlowParamsSchema, FlowQuerySchema, StatusParamsSchema, TwimlReply, VoiceParamsSchema } from './schemas.js'

/** The voice webhooks: a call starts, a flow step finishes, the call's status changes. */
const callRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const deps = (log: CallStepDeps['log']): CallStepDeps => ({
    db: app.database.db,
    clock: app.clock,
    log,
    publicUrl: app.config.publicUrl,
    numberHashKey: app.config.numberHashKey,
    rememberSwitchboard: (number, switchboard) => {
      if (switchboard === null) app.switchboards.delete(number)
      else app.switchboards.set(number, switchboard)
    }
  })

  app.post('/voice', {
    schema: { summary: 'A call starts: run the start of its number\'s published flow', tags: ['twilio'], body: VoiceParamsSchema, response: TwimlReply }
  }, async (request, reply) => {
    const { CallSid, From, To, Direction } = request.body
    const log = request.log.child({ callSid: CallSid })
    const twiml = await startCall(deps(log), { callSid: CallSid, from: From, to: To, direction: Direction ?? 'inbound' })
    return reply.type('text/xml').send(twiml)
  })

  app.post('/flow', {
    schema: { summary: 'A <Gather> or <Dial> finished: continue the call at a node', tags: ['twilio'], querystring: FlowQuerySchema, body: FlowParamsSchema, response: TwimlReply }
  }, async (request, reply) => {
    const { CallSid, Digits, DialCallStatus } = request.body
    const log = request.log.child({ callSid: CallSid })
    const twiml = await continueCall(deps(log), {
      callSid: CallSid,
      node: request.query.node,
      ...(Digits !== undefined ? { digits: Digits } : {}),
      ...(DialCallStatus !== undefined ? { dialStatus: DialCallStatus } : {})
    })
    return reply.type('text/xml').send(twiml)
  })

  app.post('/status', {
    schema: { summary: 'Call status callback (idempotent)', tags: ['twilio'], body: StatusParamsSchema, response: TwimlReply }
  }, async (request, reply) => {
    const { CallSid, CallStatus, CallDuration } = request.body
    await callStatus(deps(request.log.child({ callSid: CallSid })), { callSid: CallSid, status: CallStatus, durationSeconds: CallDuration !== undefined ? Number(CallDuration) : null })
    return reply.type('text/xml').send(emptyTwiml())
  })
}

export default callRoutes
