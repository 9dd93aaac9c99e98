import { PassThrough } from 'node:stream'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { audited } from '../../audit/audited.js'
import { requireRole } from '../../auth/principal.js'
import { findOffboarding, type OffboardingRow } from '../../db/offboardings.js'
import { listTenants } from '../../db/tenant-list.js'
import { createTenant, tenantExists } from '../../db/users.js'
import { errorReplies, NotFound } from '../../errors.js'
import { exportTenant } from '../../offboarding/export.js'
import { cancelOffboarding, offboardTenant } from '../../offboarding/offboard.js'

const IdParams = Type.Object({ id: Type.String({ format: 'uuid' }) })
const Timestamp = Type.String({ format: 'date-time' })
const Offboarding = Type.Object({
  tenantId: Type.String(),
  actor: Type.String(),
  startedAt: Timestamp,
  rowsDeletedAt: Timestamp,
  completedAt: Type.Union([Timestamp, Type.Null()], { description: 'null: objects or the KMS key are still to be deleted; offboard again, or the sweeper will' }),
  export: Type.Object({ file: Type.String(), bytes: Type.Integer(), sha256: Type.String() }),
  counts: Type.Record(Type.String(), Type.Integer()),
  auditHead: Type.Object({ seq: Type.Integer(), hash: Type.String() }, { description: 'the last audit entry handed over' }),
  objectsDeleted: Type.Union([Type.Integer(), Type.Null()]),
  kms: Type.Union([Type.Object({ keyId: Type.String(), deletionDate: Type.Union([Timestamp, Type.Null()]) }), Type.Null()])
})

function present (row: OffboardingRow) {
  return {
    tenantId: row.tenantId,
    actor: row.actor,
    startedAt: row.startedAt.toISOString(),
    rowsDeletedAt: row.rowsDeletedAt.toISOString(),
    completedAt: row.completedAt?.toISOString() ?? null,
    export: { file: row.exportFile, bytes: row.exportBytes, sha256: row.exportSha256 },
    counts: row.counts,
    auditHead: { seq: row.auditHeadSeq, hash: row.auditHeadHash },
    objectsDeleted: row.objectsDeleted,
    kms: row.kmsKeyId === null ? null : { keyId: row.kmsKeyId, deletionDate: row.kmsDeletionDate?.toISOString() ?? null }
  }
}

const tenantRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { db } = app.database

  app.post('/tenants', {
    schema: {
      summary: 'Create a tenant (a controller whose calls this installation handles)',
      tags: ['tenants'],
      body: Type.Object({
        name: Type.String({ minLength: 1, maxLength: 200 }),
        kmsKeyId: Type.Optional(Type.String({
          minLength: 1,
          maxLength: 2048,
          description: 'the tenant\'s own KMS key (id, ARN or alias) to wrap its key with; offboarding schedules its deletion'
        }))
      }, { additionalProperties: false }),
      response: { 201: Type.Object({ id: Type.String() }), ...errorReplies }
    }
  }, async (request, reply) => {
    requireRole(request.principal)
    const { name, kmsKeyId } = request.body
    const tenant = await audited(db,
      (tx) => createTenant(tx, { name, kmsKeyId: kmsKeyId ?? null }),
      (created) => ({ tenantId: created.id, actor: request.principal.actor, action: 'tenant.create', subject: `tenant:${created.id}`, details: { ownKmsKey: kmsKeyId !== undefined }, at: app.clock.now() }))
    return reply.code(201).send(tenant)
  })

  app.get('/tenants', {
    schema: {
      summary: 'List tenants (admin only): the console\'s tenant picker',
      tags: ['tenants'],
      response: {
        200: Type.Array(Type.Object({
          id: Type.String(),
          name: Type.String(),
          createdAt: Timestamp,
          offboardingSince: Type.Union([Timestamp, Type.Null()], { description: 'set while the tenant is being offboarded: its numbers take no calls' })
        })),
        ...errorReplies
      }
    }
  }, async (request) => {
    requireRole(request.principal)
    return await listTenants(db)
  })

  app.get('/tenants/:id/export', {
    schema: {
      summary: 'Everything of the tenant as a tar: rows as JSON lines, recordings decrypted to WAV (streamed)',
      description: 'Role admin, or the tenant\'s own controller. Nothing is changed; the export is audited.',
      tags: ['tenants'],
      params: IdParams,
      response: { 200: Type.String({ format: 'binary' }), ...errorReplies }
    }
  }, async (request, reply) => {
    const { principal } = request
    requireRole(principal, 'controller')
    const tenantId = request.params.id
    if (principal.role !== 'admin' && principal.tenantId !== tenantId) throw new NotFound('tenant')
    if (!await tenantExists(db, tenantId)) throw new NotFound('tenant')
    await audited(db, { tenantId, actor: principal.actor, action: 'tenant.export', subject: `tenant:${tenantId}`, details: { ip: request.ip }, at: app.clock.now() })
    const body = new PassThrough()
    exportTenant(app.offboarding, tenantId, body).then(
      (summary) => { request.log.info({ tenantId, ...summary }, 'tenant export streamed') },
      // Headers are gone by now: the client sees a cut-off archive, which a tar reader rejects.
      (err: unknown) => { request.log.error({ err, tenantId }, 'tenant export failed'); body.destroy(err as Error) }
    )
    return reply
      .header('content-type', 'application/x-tar')
      .header('content-disposition', `attachment; filename="callgate-${tenantId}.tar"`)
      .header('cache-control', 'private, no-store')
      .send(body)
  })

  app.post('/tenants/:id/offboard', {
    schema: {
      summary: 'Hand the tenant its data (an export archive), then erase it: rows, objects and key material',
      description: 'Irreversible. Refused while a recording is under legal hold or not yet stored. Re-running it ' +
        'after a partial failure finishes what is left.',
      tags: ['tenants'],
      params: IdParams,
      body: Type.Object({
        confirm: Type.String({ minLength: 1, maxLength: 200, description: 'the tenant\'s name, exactly' })
      }, { additionalProperties: false }),
      response: { 200: Offboarding, ...errorReplies }
    }
  }, async (request) => {
    requireRole(request.principal)
    const row = await offboardTenant(app.offboarding, request.params.id, request.principal.actor, request.body.confirm)
    request.log.info({ tenantId: row.tenantId, export: row.exportFile, completed: row.completedAt !== null }, 'tenant offboarded')
    return present(row)
  })

  app.get('/tenants/:id/offboard', {
    schema: { summary: 'The record of a tenant\'s offboarding', tags: ['tenants'], params: IdParams, response: { 200: Offboarding, ...errorReplies } }
  }, async (request) => {
    requireRole(request.principal)
    const row = await findOffboarding(db, request.params.id)
    if (row === null) throw new NotFound('offboarding')
    return present(row)
  })

  app.delete('/tenants/:id/offboard', {
    schema: {
      summary: 'Call off an offboarding whose rows are not yet erased (the tenant takes calls again)',
      tags: ['tenants'],
      params: IdParams,
      response: { 204: Type.Null(), ...errorReplies }
    }
  }, async (request, reply) => {
    requireRole(request.principal)
    await cancelOffboarding(app.offboarding, request.params.id, request.principal.actor, app.clock.now())
    return reply.code(204).send(null)
  })
}

export default tenantRoutes
