import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { DELIVERY_STATUSES } from '../../db/schema.js'
import { errorReplies } from '../../errors.js'
import { createWebhookEndpoints } from '../../events/endpoints.js'
import { EVENT_TYPES } from '../../events/catalogue.js'

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()])
const EventName = Type.Union([...EVENT_TYPES, '*'].map((e) => Type.Literal(e)))

const EndpointSchema = Type.Object({
  id: Type.String(),
  tenantId: Type.String(),
  url: Type.String(),
  events: Type.Array(Type.String()),
  description: Nullable(Type.String()),
  enabled: Type.Boolean(),
  disabledReason: Nullable(Type.String()),
  failingSince: Nullable(Type.String()),
  createdAt: Type.String()
})

const DeliverySchema = Type.Object({
  id: Type.String(),
  eventId: Type.String(),
  type: Type.String(),
  status: Type.Union(DELIVERY_STATUSES.map((s) => Type.Literal(s))),
  attempts: Type.Integer(),
  lastStatus: Nullable(Type.Integer()),
  lastError: Nullable(Type.String()),
  nextAttemptAt: Nullable(Type.String()),
  createdAt: Type.String(),
  deliveredAt: Nullable(Type.String())
})

const IdParams = Type.Object({ id: Type.String({ format: 'uuid' }) })

/** The tenant's event endpoints and their deliveries (Standard Webhooks; see README, Events). */
const webhookRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const endpoints = createWebhookEndpoints({
    db: app.database.db,
    clock: app.clock,
    fields: async (tenantId) => await app.tenantKeys.fieldsOf(tenantId),
    allowPrivate: app.config.webhookAllowPrivate
  })

  app.post('/webhooks', {
    schema: {
      summary: 'Register an endpoint for events (controller); the signing secret is shown only in this reply',
      tags: ['webhooks'],
      body: Type.Object({
        url: Type.String({ minLength: 1, maxLength: 2048 }),
        events: Type.Array(EventName, { minItems: 1, maxItems: EVENT_TYPES.length + 1 }),
        description: Type.Optional(Type.String({ maxLength: 500 })),
        tenantId: Type.Optional(Type.String({ format: 'uuid' }))
      }, { additionalProperties: false }),
      response: { 201: Type.Object({ id: Type.String(), secret: Type.String() }), ...errorReplies }
    }
  }, async (request, reply) => reply.code(201).send(await endpoints.register(request.principal, request.body)))

  app.get('/webhooks', {
    schema: {
      summary: 'List event endpoints (controller)',
      tags: ['webhooks'],
      querystring: Type.Object({ tenantId: Type.Optional(Type.String({ format: 'uuid' })) }, { additionalProperties: false }),
      response: { 200: Type.Array(EndpointSchema), ...errorReplies }
    }
  }, async (request) => await endpoints.list(request.principal, request.query.tenantId))

  app.delete('/webhooks/:id', {
    schema: { summary: 'Delete an event endpoint and what it is still owed', tags: ['webhooks'], params: IdParams, response: { 204: Type.Null(), ...errorReplies } }
  }, async (request, reply) => {
    await endpoints.remove(request.principal, request.params.id)
    return reply.code(204).send(null)
  })

  app.get('/webhooks/:id/deliveries', {
    schema: {
      summary: 'The endpoint\'s deliveries, newest first, with their attempts and last answer',
      tags: ['webhooks'],
      params: IdParams,
      querystring: Type.Object({
        limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 50 })),
        status: Type.Optional(Type.Union(DELIVERY_STATUSES.map((s) => Type.Literal(s))))
      }, { additionalProperties: false }),
      response: { 200: Type.Object({ deliveries: Type.Array(DeliverySchema) }), ...errorReplies }
    }
  }, async (request) => ({ deliveries: await endpoints.deliveries(request.principal, request.params.id, request.query) }))

  app.post('/webhooks/:id/deliveries/:deliveryId/retry', {
    schema: {
      summary: 'Send one delivery again now (turns a disabled endpoint back on)',
      tags: ['webhooks'],
      params: Type.Object({ id: Type.String({ format: 'uuid' }), deliveryId: Type.String({ format: 'uuid' }) }),
      response: { 202: Type.Object({ id: Type.String(), status: Type.Literal('pending'), nextAttemptAt: Type.String() }), ...errorReplies }
    }
  }, async (request, reply) => reply.code(202).send(await endpoints.retry(request.principal, request.params.id, request.params.deliveryId)))
}

export default webhookRoutes
