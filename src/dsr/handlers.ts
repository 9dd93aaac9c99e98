import { Type, type Static } from 'typebox'
import type { Tx } from '../db/executor.js'
import { isRestricted } from '../db/dsr.js'
import type { subjectData } from '../db/subject-data.js'
import { BadRequest, Conflict } from '../errors.js'
import type { Recorder } from '../recording/recorder.js'
import { accessExport, erase, rectify, type DsrDeps } from './run.js'

export const DsrTypeSchema = Type.Union([Type.Literal('access'), Type.Literal('erasure'), Type.Literal('restriction'), Type.Literal('rectification')])
export type DsrType = Static<typeof DsrTypeSchema>

export const CorrectionsSchema = Type.Record(Type.String({ pattern: '^[a-zA-Z][a-zA-Z0-9_]{0,63}$' }), Type.String({ maxLength: 1000 }), { description: 'rectification: attribute → corrected value' })

export interface DsrInput {
  tenantId: string
  /** E.164; only the access export names it, every row is found by numberHash. */
  number: string
  numberHash: string
  corrections?: Record<string, string> | undefined
  actor: string
}

export type HandlerDeps = DsrDeps & { recorder: Pick<Recorder, 'discardErased'> }

export interface DsrContext {
  deps: HandlerDeps
  tx: Tx
  input: DsrInput
  data: Awaited<ReturnType<typeof subjectData>>
}

export interface DsrOutcome {
  /** `active`: the request goes on working (a restriction) until it is lifted. */
  status: 'completed' | 'active'
  /** The summary stored on the request and in its audit entry. */
  result: Record<string, unknown>
  /** Requests that are done with the number stop naming it; a restriction needs it to work. */
  keepHash: boolean
  /** What the requester receives beside the summary (the access export). */
  export?: unknown
  /** Runs once the request's transaction has committed. */
  afterCommit?: () => Promise<void>
}

/**
 * One data-subject request type (GDPR Art. 15–18). `check` refuses a request before anything is
 * written; `run` does the work inside the request's transaction.
 */
export interface DsrHandler {
  check?: (deps: HandlerDeps, input: DsrInput) => Promise<void>
  run: (ctx: DsrContext) => Promise<DsrOutcome>
}

const access: DsrHandler = {
  run: async ({ deps, tx, input, data }) => ({
    status: 'completed',
    keepHash: false,
    export: await accessExport(deps, tx, input.number, data, input.actor),
    result: { calls: data.calls.length, events: data.events.length, consents: data.consents.length, recordings: data.recordings.length, suppressed: data.suppressions.length > 0 }
  })
}

const erasure: DsrHandler = {
  run: async ({ deps, tx, input, data }) => {
    const recordingIds = data.recordings.map((r) => r.id)
    return {
      status: 'completed',
      keepHash: false,
      result: await erase(deps, tx, input.tenantId, input.numberHash, data),
      // A spool file of an erased recording goes now, not at the next upload retry.
      afterCommit: () => deps.recorder.discardErased(recordingIds)
    }
  }
}

const restriction: DsrHandler = {
  check: async (deps, input) => {
    if (await isRestricted(deps.db, input.tenantId, input.numberHash)) throw new Conflict('the number is already restricted')
  },
  run: async ({ data }) => ({ status: 'active', keepHash: true, result: { calls: data.calls.length } })
}

const rectification: DsrHandler = {
  check: async (_deps, input) => {
    if (input.corrections === undefined || Object.keys(input.corrections).length === 0) throw new BadRequest('body/corrections is required for rectification')
  },
  run: async ({ tx, input, data }) => ({ status: 'completed', keepHash: false, result: await rectify(tx, data, input.corrections!) })
}

/** Every request type and what runs it: a new type is one entry here (and one literal above). */
export const dsrHandlers: Record<DsrType, DsrHandler> = { access, erasure, restriction, rectification }
