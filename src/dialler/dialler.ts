import { appendAudit } from '../audit/append.js'
import { audited } from '../audit/audited.js'
import { readScope, requireRole, type Principal } from '../auth/principal.js'
import type { Clock } from '../clock.js'
import type { Config } from '../config.js'
import type { FieldCipher } from '../crypto/field-cipher.js'
import { insertCall, type EndedCall } from '../db/calls.js'
import { findCampaign } from '../db/campaigns.js'
import type { Db } from '../db/client.js'
import { contactCounts } from '../db/contacts.js'
import {
  attachCallSids, claimDue, diallerStateOf, hasWorkLeft, lockRunningCampaign, moveContacts, numbersOnACall, openAttempts, outcomeCounts,
  pacing, runningCampaigns, setDiallerState, settleAttempt, settleLost, settleUnplaced, takeUnaudited, type ContactMove, type DiallingCampaign, type DueContact, type SettledAttempt
} from '../db/dial-attempts.js'
import type { Executor, Tx } from '../db/executor.js'
import { isOffboarding } from '../db/offboardings.js'
import type { DialOutcome, DiallerState } from '../db/schema.js'
import { Conflict, NotFound } from '../errors.js'
import { initialCallState, isOpen, nextOpening } from '../flows/index.js'
import { screenHashes } from '../suppression/screen.js'
import type { TwilioRest } from '../twilio/rest.js'
import { abandonRate, outcomeOf, type CallEnd } from './outcome.js'

export interface DiallerDeps {
  db: Db
  /** null: no Twilio account is configured, so nothing is dialled. */
  twilio: Pick<TwilioRest, 'placeCall'> | null
  clock: Clock
  config: Pick<Config, 'publicUrl' | 'diallerIntervalMs'>
  fields (tenantId: string): Promise<FieldCipher>
  log: { info (obj: object, msg: string): void, warn (obj: object, msg: string): void, error (obj: object, msg: string): void }
}

export type DiallerAction = 'start' | 'pause' | 'resume' | 'stop'

/** From which states each action moves the dialler, and to which. */
const TRANSITIONS: Record<DiallerAction, { from: readonly DiallerState[], to: DiallerState }> = {
  start: { from: ['idle', 'stopped', 'completed'], to: 'running' },
  pause: { from: ['running'], to: 'paused' },
  resume: { from: ['paused'], to: 'running' },
  stop: { from: ['running', 'paused'], to: 'stopped' }
}

/** An attempt not placed this long after it was written is lost (its process died before Twilio answered). */
const UNPLACED_LOST_MS = 5 * 60_000
/** Twilio ends every call after 4 hours; an attempt with no final status after this is lost. */
const CALL_LOST_MS = 4 * 3600_000 + 10 * 60_000
/** A number busy on another call with the tenant is tried again this much later. */
const BUSY_NUMBER_DELAY_MS = 60_000
/** A contact at the campaign's call cap is tried again this much later. */
const CAPPED_DELAY_MS = 3600_000
const DAY_MS = 86_400_000

const actor = 'dialler'
/** Outcomes audited in one transaction at most. */
const AUDIT_BATCH = 1000

/**
 * The campaign dialler. Every server process runs `tick` on a timer; the work is shared through
 * PostgreSQL: a process takes a running campaign's row lock (skipping it when another process
 * holds it), counts the calls in flight and placed in the last minute, claims the contacts due
 * (FOR UPDATE SKIP LOCKED), screens each again and holds it against its calling window, and
 * writes an attempt for each it will dial, all in one transaction. Only after that commits is
 * Twilio asked to dial, so neither a crash nor a race dials a number twice. Outcomes come back
 * through the status callback (`settle`).
 */
export function createDialler (deps: DiallerDeps) {
  const { db, clock, config, log } = deps

  async function campaignOf (principal: Principal, campaignId: string) {
    const campaign = await findCampaign(db, campaignId, readScope(principal))
    if (campaign === null) throw new NotFound('campaign')
    return campaign
  }

  async function status (principal: Principal, campaignId: string) {
    const campaign = await campaignOf(principal, campaignId)
    requireRole(principal, 'ops', 'controller')
    const now = clock.now()
    const [{ state, reason }, { inFlight: flying }, contacts, outcomes, day] = await Promise.all([
      diallerStateOf(db, campaign.id),
      pacing(db, campaign.id, now),
      contactCounts(db, campaign.id),
      outcomeCounts(db, campaign.id),
      outcomeCounts(db, campaign.id, new Date(now.getTime() - DAY_MS))
    ])
    return { state, reason, inFlight: flying, contacts, outcomes, abandonRate24h: abandonRate(day) }
  }

  async function control (principal: Principal, campaignId: string, action: DiallerAction) {
    const campaign = await campaignOf(principal, campaignId)
    requireRole(principal, 'ops')
    if (campaign.dialler === null) throw new Conflict('the campaign has no dialler settings: set dialler with PATCH /api/campaigns/:id first')
    if (action === 'start' || action === 'resume') {
      if (deps.twilio === null) throw new Conflict('TWILIO_ACCOUNT_SID is not configured, so calls cannot be placed')
      if (await isOffboarding(db, campaign.tenantId)) throw new Conflict('the tenant is being offboarded: no new calls')
    }
    const { from, to } = TRANSITIONS[action]
    const now = clock.now()
    const changed = await audited(db, async (tx) => await setDiallerState(tx, campaign.id, from, to, null, now),
      (changed) => changed ? { tenantId: campaign.tenantId, actor: principal.actor, action: `dialler.${action}`, subject: `campaign:${campaign.id}`, details: {}, at: now } : null)
    if (!changed) throw new Conflict(`the dialler is ${(await diallerStateOf(db, campaign.id)).state}: it cannot ${action}`)
    return await status(principal, campaignId)
  }

  /** One round over every running campaign; returns how many calls were placed. */
  async function tick (): Promise<{ placed: number, lost: number }> {
    const now = clock.now()
    const lost = (await settleLost(db, now, UNPLACED_LOST_MS, CALL_LOST_MS)).length
    await auditOutcomes(now)
    if (deps.twilio === null) return { placed: 0, lost }
    let placed = 0
    for (const id of await runningCampaigns(db)) placed += await turn(id, now)
    return { placed, lost }
  }

  /** This process's turn at one campaign: claim, then place. */
  async function turn (campaignId: string, now: Date): Promise<number> {
    const claimed = await db.transaction(async (tx) => await claim(tx, campaignId, now))
    if (claimed === null || claimed.attempts.length === 0) return 0
    const { campaign } = claimed
    const fields = await deps.fields(campaign.tenantId)
    const placed = await Promise.all(claimed.attempts.map(async ({ contact, attemptId }) => {
      try {
        const call = await deps.twilio!.placeCall({
          to: fields.open(contact.numberSealed, campaign.id),
          from: campaign.dialler.callerId,
          url: `${config.publicUrl}/twilio/voice`,
          statusCallback: `${config.publicUrl}/twilio/status`,
          machineDetection: MACHINE_DETECTION[campaign.dialler.machineDetection]
        })
        return { contact, attemptId, callSid: call.sid, status: call.status }
      } catch (err) {
        log.warn({ err, campaignId, contactId: contact.id }, 'Twilio did not place the dialler\'s call: settled as failed')
        return { contact, attemptId, callSid: null, status: null }
      }
    }))
    // The call row is on file before its webhook in the usual case (a webhook that wins the race
    // finds the dialler's flow through the number's campaign: db/step-sql.ts READ_ROUTES).
    const ok = placed.flatMap((p) => p.callSid === null ? [] : [{ ...p, callSid: p.callSid, status: p.status! }])
    await db.transaction(async (tx) => {
      for (const p of placed) {
        if (p.callSid !== null) continue
        await settleUnplaced(tx, p.attemptId, now)
      }
      // The calls' rows first, then the attempts': the status callback locks them in that order.
      await insertCall(tx, ok.map((p) => ({
        tenantId: campaign.tenantId,
        callSid: p.callSid,
        direction: 'outbound',
        campaignId: campaign.id,
        flowId: campaign.dialler.flowId,
        flowVersion: campaign.flowVersion,
        remoteHash: p.contact.numberHash,
        remoteNumber: null,
        remoteWithheld: false,
        localNumber: campaign.dialler.callerId,
        status: p.status,
        state: initialCallState(),
        startedAt: now
      })))
      await attachCallSids(tx, ok)
      await appendAudit(tx, {
        tenantId: campaign.tenantId,
        actor,
        action: 'dialler.place',
        subject: `campaign:${campaign.id}`,
        details: { placed: ok.map((p) => ({ contactId: p.contact.id, callSid: p.callSid })), failed: placed.length - ok.length, skipped: claimed.skipped },
        at: now
      })
    })
    return ok.length
  }

  async function claim (tx: Tx, campaignId: string, now: Date) {
    const campaign = await lockRunningCampaign(tx, campaignId)
    if (campaign === null || campaign.offboarding) return null
    if (campaign.flowVersion === null) {
      await stopItself(tx, campaign, 'paused', 'no-published-flow', now)
      return null
    }
    if (campaign.endsAt !== null && now >= campaign.endsAt) {
      await stopItself(tx, campaign, 'stopped', 'ended', now)
      return null
    }
    const { maxConcurrent, callsPerMinute } = campaign.dialler
    const { inFlight: flying, recent } = await pacing(tx, campaign.id, new Date(now.getTime() - 60_000))
    // Spread over the minute: a tick places its share of callsPerMinute, never more in any minute.
    const share = Math.max(1, Math.ceil(callsPerMinute * (config.diallerIntervalMs || 1000) / 60_000))
    const budget = Math.min(maxConcurrent - flying, callsPerMinute - recent, share)
    if (budget <= 0) return null
    const due = await claimDue(tx, campaign.id, now, budget * 2)
    if (due.length === 0) {
      if (flying === 0 && !await hasWorkLeft(tx, campaign.id)) await stopItself(tx, campaign, 'completed', null, now)
      return null
    }
    const { dial, moves, skipped } = await screen(tx, campaign, due, now)
    await moveContacts(tx, moves)
    const chosen = dial.slice(0, budget)
    const opened = await openAttempts(tx, campaign, chosen, now)
    return { campaign, skipped, attempts: chosen.flatMap((contact) => opened.has(contact.id) ? [{ contact, attemptId: opened.get(contact.id)! }] : []) }
  }

  /** Each contact screened again and held against its calling window: who is dialled, where the others go. */
  async function screen (tx: Executor, campaign: DiallingCampaign, due: DueContact[], now: Date) {
    const hashes = due.map((c) => c.numberHash)
    const [reasons, onACall] = await Promise.all([screenHashes(tx, campaign.tenantId, campaign, hashes, now), numbersOnACall(tx, campaign.tenantId, hashes, now)])
    const dial: DueContact[] = []
    const moves: ContactMove[] = []
    const skipped = { suppressed: 0, registry: 0, restricted: 0, cap: 0, outsideWindow: 0, onACall: 0 }
    const opens = new Map<string, Date | null>()
    const opening = (timezone: string) => {
      if (!opens.has(timezone)) opens.set(timezone, nextOpening({ ...campaign, timezone }, now))
      return opens.get(timezone)!
    }
    for (const contact of due) {
      const reason = reasons.get(contact.numberHash)
      const timezone = contact.timezone ?? campaign.timezone
      if (reason !== undefined) {
        skipped[reason]++
        moves.push(reason === 'cap'
          ? { id: contact.id, status: 'scheduled', nextAttemptAt: new Date(now.getTime() + CAPPED_DELAY_MS), lastOutcome: 'cap' }
          : { id: contact.id, status: 'suppressed', nextAttemptAt: null, lastOutcome: reason })
      } else if (onACall.has(contact.numberHash)) {
        skipped.onACall++
        moves.push({ id: contact.id, status: 'scheduled', nextAttemptAt: new Date(now.getTime() + BUSY_NUMBER_DELAY_MS) })
      } else if (!isOpen({ ...campaign, timezone }, now)) {
        skipped.outsideWindow++
        moves.push({ id: contact.id, status: 'scheduled', nextAttemptAt: opening(timezone) ?? new Date(now.getTime() + DAY_MS) })
      } else {
        dial.push(contact)
      }
    }
    return { dial, moves, skipped }
  }

  async function stopItself (tx: Executor, campaign: { id: string, tenantId: string }, to: DiallerState, reason: string | null, now: Date) {
    if (await setDiallerState(tx, campaign.id, ['running'], to, reason, now)) {
      await appendAudit(tx, { tenantId: campaign.tenantId, actor, action: `dialler.${to}`, subject: `campaign:${campaign.id}`, details: { reason }, at: now })
    }
  }

  /**
   * The outcomes settled since the last turn (by any process), into the audit log: one entry per
   * campaign, without numbers. An outcome is stored with the call's end; its audit entry follows
   * within a turn, so that a status callback does not wait for the tenant's audit lock.
   */
  async function auditOutcomes (now: Date) {
    for (;;) {
      const taken = await db.transaction(async (tx) => {
        const list = await takeUnaudited(tx, now, AUDIT_BATCH)
        const byCampaign = new Map<string, typeof list>()
        for (const o of list) byCampaign.set(o.campaignId, [...(byCampaign.get(o.campaignId) ?? []), o])
        for (const [campaignId, outcomes] of byCampaign) {
          await appendAudit(tx, {
            tenantId: outcomes[0]!.tenantId,
            actor,
            action: 'dialler.outcomes',
            subject: `campaign:${campaignId}`,
            details: { outcomes: outcomes.map((o) => ({ contactId: o.contactId, callSid: o.callSid, outcome: o.outcome })) },
            at: now
          })
        }
        return list.length
      })
      if (taken < AUDIT_BATCH) return
    }
  }

  /** Past the campaign's abandonLimitPercent, an abandoned call pauses the dialler. */
  async function afterSettling (tx: Executor, attempt: SettledAttempt, outcome: DialOutcome, now: Date) {
    if (outcome !== 'abandoned' || attempt.dialler === null) return
    const rate = abandonRate(await outcomeCounts(tx, attempt.campaignId, new Date(now.getTime() - DAY_MS)))
    if (rate > attempt.dialler.abandonLimitPercent) await stopItself(tx, { id: attempt.campaignId, tenantId: attempt.tenantId }, 'paused', 'abandon-limit', now)
  }

  /**
   * The final status of an outbound call (in the status callback's transaction): the attempt
   * that placed it is settled with its outcome and its contact moves on. Not the dialler's call:
   * nothing happens.
   */
  async function settle (tx: Executor, call: EndedCall, end: Pick<CallEnd, 'status' | 'answeredBy'>, now: Date): Promise<DialOutcome | null> {
    if (call.direction === 'inbound') return null
    const outcome = outcomeOf({ ...end, flowRan: call.flowRan, optedOut: call.optedOut })
    const attempt = await settleAttempt(tx, call, outcome, now)
    if (attempt === null) return null
    await afterSettling(tx, attempt, outcome, now)
    return outcome
  }

  return { status, control, tick, settle }
}

const MACHINE_DETECTION = { off: undefined, detect: 'Enable', 'message-end': 'DetectMessageEnd' } as const

export type Dialler = ReturnType<typeof createDialler>
