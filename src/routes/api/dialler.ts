import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { CONTACT_STATUSES, DIAL_OUTCOMES, DIALLER_STATES } from '../../db/schema.js'
import { errorReplies } from '../../errors.js'

const IdParams = Type.Object({ id: Type.String({ format: 'uuid' }) })
const countsOf = (names: readonly string[]) => Type.Object(Object.fromEntries(names.map((n) => [n, Type.Integer()])))
const DiallerStatus = Type.Object({
  state: Type.Union(DIALLER_STATES.map((s) => Type.Literal(s))),
  reason: Type.Union([Type.String(), Type.Null()], { description: 'why the dialler paused or stopped itself: abandon-limit, no-published-flow, ended' }),
  inFlight: Type.Integer(),
  contacts: countsOf(CONTACT_STATUSES),
  outcomes: countsOf(DIAL_OUTCOMES),
  abandonRate24h: Type.Number({ description: 'abandoned calls as a percentage of the calls answered by a person over the last 24 hours' })
})

/** A campaign's dialler: start, pause, resume, stop, and how it is doing. */
const diallerRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.post('/campaigns/:id/dialler', {
    schema: {
      summary: 'Start, pause, resume or stop the campaign\'s dialler',
      tags: ['outbound'],
      params: IdParams,
      body: Type.Object({ action: Type.Union([Type.Literal('start'), Type.Literal('pause'), Type.Literal('resume'), Type.Literal('stop')]) }, { additionalProperties: false }),
      response: { 200: DiallerStatus, ...errorReplies }
    }
  }, async (request) => await app.dialler.control(request.principal, request.params.id, request.body.action))

  app.get('/campaigns/:id/dialler', {
    schema: { summary: 'The dialler\'s state, calls in flight, contacts by status and attempts by outcome', tags: ['outbound'], params: IdParams, response: { 200: DiallerStatus, ...errorReplies } }
  }, async (request) => await app.dialler.status(request.principal, request.params.id))
}

export default diallerRoutes
