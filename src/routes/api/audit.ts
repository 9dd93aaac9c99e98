import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { requireRole, writeTenant } from '../../auth/principal.js'
import { verifyChain } from '../../audit/verify.js'
import { listAudit } from '../../db/audit.js'
import { errorReplies } from '../../errors.js'
import { dateRange, QueryDateTime, QueryInteger } from '../query-params.js'

const Entry = Type.Object({ seq: Type.Integer(), at: Type.String(), actor: Type.String(), action: Type.String(), subject: Type.Union([Type.String(), Type.Null()]), details: Type.Unknown(), prevHash: Type.String(), hash: Type.String() })
const TenantQuery = { tenantId: Type.Optional(Type.String({ format: 'uuid', description: 'admin only: whose log' })) }

/** The tenant's hash-chained audit log: who read or changed what, and proof it was not edited. */
const auditRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { db } = app.database

  app.get('/audit', {
    schema: {
      summary: 'Audit entries, oldest first; page with afterSeq',
      tags: ['audit'],
      querystring: Type.Object({
        ...TenantQuery,
        actor: Type.Optional(Type.String({ maxLength: 200 })),
        action: Type.Optional(Type.String({ maxLength: 100 })),
        subject: Type.Optional(Type.String({ maxLength: 200 })),
        from: Type.Optional(QueryDateTime('at or after')),
        to: Type.Optional(QueryDateTime('before')),
        // seq is a bigint read as a JS number: beyond 2^53 - 1 it could not be told apart.
        afterSeq: Type.Optional(QueryInteger({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, description: 'nextAfterSeq of the previous page' })),
        limit: Type.Optional(QueryInteger({ minimum: 1, maximum: 1000, default: 100 }))
      }, { additionalProperties: false }),
      response: { 200: Type.Object({ entries: Type.Array(Entry), nextAfterSeq: Type.Union([Type.Integer(), Type.Null()]) }), ...errorReplies }
    }
  }, async (request) => {
    requireRole(request.principal, 'controller')
    const q = request.query
    const limit = q.limit ?? 100
    const { from, to } = dateRange(q)
    const entries = await listAudit(db, {
      tenantId: writeTenant(request.principal, q.tenantId, 'querystring/tenantId'),
      limit,
      ...(q.actor !== undefined ? { actor: q.actor } : {}),
      ...(q.action !== undefined ? { action: q.action } : {}),
      ...(q.subject !== undefined ? { subject: q.subject } : {}),
      ...(from !== undefined ? { from } : {}),
      ...(to !== undefined ? { to } : {}),
      ...(q.afterSeq !== undefined ? { afterSeq: q.afterSeq } : {})
    })
    return { entries, nextAfterSeq: entries.length === limit ? entries.at(-1)!.seq : null }
  })

  app.get('/audit/verify', {
    schema: {
      summary: 'Recompute the hash chain; names the first broken entry',
      tags: ['audit'],
      querystring: Type.Object(TenantQuery, { additionalProperties: false }),
      response: { 200: Type.Object({ ok: Type.Boolean(), entries: Type.Integer(), firstBroken: Type.Optional(Type.Object({ seq: Type.Integer(), reason: Type.String() })) }), ...errorReplies }
    }
  }, async (request) => {
    requireRole(request.principal, 'controller')
    return await verifyChain(db, writeTenant(request.principal, request.query.tenantId, 'querystring/tenantId'))
  })
}

export default auditRoutes
