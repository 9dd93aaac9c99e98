import { appendAudit } from '../audit/append.js'
import { readScope, requireRole, writeTenant, type Principal } from '../auth/principal.js'
import { findDsr, insertDsr, subjectData, updateDsr } from '../db/subject-data.js'
import { tenantExists } from '../db/users.js'
import { Conflict, NotFound } from '../errors.js'
import { emit } from '../events/emit.js'
import { hashNumber } from '../privacy/number-hash.js'
import { dsrHandlers, type DsrType, type HandlerDeps } from './handlers.js'

export type DsrRequestDeps = HandlerDeps & { numberHashKey: string }

export interface NewDsr {
  type: DsrType
  number: string
  corrections?: Record<string, string> | undefined
  /** admin only: the tenant the request is made in. */
  tenantId?: string | undefined
}

export type DsrRow = Awaited<ReturnType<typeof insertDsr>>

/**
 * Data-subject requests: authorise, refuse early what the type's handler refuses, then run the
 * handler in one transaction with the request row and its audit entry.
 */
export function createDsrRequests (deps: DsrRequestDeps) {
  const { db, clock } = deps

  async function submit (principal: Principal, request: NewDsr): Promise<{ row: DsrRow, export?: unknown }> {
    requireRole(principal, 'controller')
    const tenantId = writeTenant(principal, request.tenantId)
    if (!await tenantExists(db, tenantId)) throw new NotFound('body/tenantId')
    const handler = dsrHandlers[request.type]
    const input = { tenantId, number: request.number, numberHash: hashNumber(deps.numberHashKey, request.number), corrections: request.corrections, actor: principal.actor }
    const now = clock.now()
    await handler.check?.(deps, input)
    const { row, outcome } = await db.transaction(async (tx) => {
      const data = await subjectData(tx, tenantId, input.numberHash)
      const created = await insertDsr(tx, { tenantId, type: request.type, numberHash: input.numberHash, status: 'in-progress', requestedBy: principal.userId, createdAt: now })
      const outcome = await handler.run({ deps, tx, input, data })
      const { status, result, keepHash } = outcome
      const row = await updateDsr(tx, created.id, { status, result, completedAt: status === 'completed' ? now : null, ...(keepHash ? {} : { numberHash: 'completed' }) })
      await appendAudit(tx, { tenantId, actor: principal.actor, action: `dsr.${request.type}`, subject: `dsr:${created.id}`, details: result, at: now })
      if (status === 'completed') await emit(tx, { type: 'dsr.completed', tenantId, at: now, data: { dsrId: created.id, type: request.type } })
      return { row, outcome }
    })
    await outcome.afterCommit?.()
    return { row, ...(outcome.export !== undefined ? { export: outcome.export } : {}) }
  }

  async function find (principal: Principal, id: string): Promise<DsrRow> {
    const row = await findDsr(db, id, readScope(principal))
    if (row === null) throw new NotFound('request')
    requireRole(principal, 'controller')
    return row
  }

  async function lift (principal: Principal, id: string): Promise<DsrRow> {
    const row = await find(principal, id)
    if (row.type !== 'restriction' || row.status !== 'active') throw new Conflict('only a restriction in force can be lifted')
    const now = clock.now()
    return await db.transaction(async (tx) => {
      const updated = await updateDsr(tx, row.id, { status: 'lifted', completedAt: now, numberHash: 'lifted' })
      await appendAudit(tx, { tenantId: row.tenantId, actor: principal.actor, action: 'dsr.lift', subject: `dsr:${row.id}`, details: {}, at: now })
      return updated
    })
  }

  return { submit, find, lift }
}

export type DsrRequests = ReturnType<typeof createDsrRequests>
