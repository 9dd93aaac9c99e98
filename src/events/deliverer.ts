import { Webhook } from 'standardwebhooks'
import { appendAudit } from '../audit/append.js'
import type { Clock } from '../clock.js'
import type { Db } from '../db/client.js'
import { claimDeliveries, disableEndpoint, markDelivered, markFailed, pruneEvents, type ClaimedDelivery } from '../db/webhooks.js'
import type { FieldCipher } from '../crypto/field-cipher.js'
import { send, type SendResult } from './send.js'

export interface DelivererDeps {
  db: Db
  /** Schedules retries and decides when an endpoint has failed long enough. */
  clock: Clock
  /**
   * The time written in `webhook-timestamp`: receivers check it against their own clocks (the
   * spec's replay window), so it is the wall clock even where tests fix `clock`.
   */
  wallClock: Clock
  fields (tenantId: string): Promise<FieldCipher>
  allowPrivate: boolean
  log: { warn (obj: object, msg: string): void, info (obj: object, msg: string): void, error (obj: object, msg: string): void }
  /** Deliveries in flight in this process at most (default 32), and to one endpoint (default 8). */
  concurrency?: number
  perEndpoint?: number
  timeoutMs?: number
}

const SECOND = 1000
const HOUR = 3600 * SECOND
const DAY = 24 * HOUR
/** A delivery is retried for at least this long before it is failed. */
export const RETRY_FOR_MS = DAY
/** An endpoint that has failed every delivery this long is turned off. */
export const DISABLE_AFTER_MS = 3 * DAY
/** Events are kept this long once no endpoint is owed them. */
export const EVENTS_KEPT_MS = 30 * DAY
const LEASE_MS = 60 * SECOND

/**
 * The wait before attempt `attempts + 1`: 5 s doubling to at most an hour, with full jitter over
 * its upper half so endpoints coming back are not hit by every process at once.
 */
export function backoffMs (attempts: number, random = Math.random): number {
  const ceiling = Math.min(HOUR, 5 * SECOND * 2 ** Math.max(0, attempts - 1))
  return Math.round(ceiling / 2 + random() * ceiling / 2)
}

/** The secret's name as it is sealed: bound to its endpoint, so a sealed value copied elsewhere does not open. */
export const secretContext = (endpointId: string) => `webhook-secret:${endpointId}`

export interface DeliveryRound { delivered: number, retried: number, failed: number }

/**
 * Delivers the outbox's events: claims due deliveries (claimDeliveries in db/webhooks.ts),
 * signs each with its endpoint's secret (Standard Webhooks, through the spec's own library) and
 * POSTs it, then marks it. Nothing is held locked during a POST: the claim is a lease, so a
 * process that dies mid-send leaves the delivery to be sent again once the lease runs out (the
 * only way a receiver sees an event twice; webhook-id lets it tell).
 */
export function createDeliverer (deps: DelivererDeps) {
  const concurrency = deps.concurrency ?? 32
  const perEndpoint = deps.perEndpoint ?? 8
  let inFlight = 0
  const busy = new Map<string, number>()
  const take = (d: ClaimedDelivery, n: 1 | -1) => {
    const left = (busy.get(d.endpointId) ?? 0) + n
    if (left === 0) busy.delete(d.endpointId); else busy.set(d.endpointId, left)
  }

  async function post (d: ClaimedDelivery): Promise<SendResult> {
    try {
      const secret = (await deps.fields(d.tenantId)).open(d.sealedSecret, secretContext(d.endpointId))
      const body = JSON.stringify({ type: d.type, timestamp: d.at.toISOString(), data: d.data })
      const sentAt = deps.wallClock.now()
      const signature = new Webhook(secret).sign(d.eventId, sentAt, body)
      return await send(d.url, {
        'webhook-id': d.eventId,
        'webhook-timestamp': String(Math.floor(sentAt.getTime() / 1000)),
        'webhook-signature': signature
      }, body, deps.allowPrivate, deps.timeoutMs)
    } catch (err) {
      return { status: null, error: (err as Error).message }
    }
  }

  const succeeded = (r: SendResult): r is SendResult & { status: number } => r.status !== null && r.status >= 200 && r.status < 300

  /**
   * One endpoint's share of a round: POSTed side by side, then its successes marked in one
   * statement (one commit for the lot) and each failure on its own. Endpoints are marked
   * independently, so a slow one does not hold back another's marks (nor the next events of its calls).
   */
  async function deliverTo (group: ClaimedDelivery[], round: DeliveryRound): Promise<void> {
    try {
      const results = await Promise.all(group.map(async (d) => ({ d, result: await post(d) })))
      const now = deps.clock.now()
      const done = results.filter((r) => succeeded(r.result))
      if (done.length > 0) {
        await markDelivered(deps.db, done.map((r) => ({ id: r.d.id, endpointId: r.d.endpointId, status: r.result.status! })), now)
        round.delivered += done.length
      }
      for (const { d, result } of results) if (!succeeded(result)) round[await failed(d, result, now)]++
    } catch (err) {
      // Not marked (the database failed): the leases run out and the deliveries are claimed again.
      deps.log.error({ err, deliveries: group.map((d) => d.id) }, 'could not record an event delivery')
    } finally {
      inFlight -= group.length
      for (const d of group) take(d, -1)
    }
  }

  async function failed (d: ClaimedDelivery, result: SendResult, now: Date): Promise<'retried' | 'failed'> {
    const retryAt = now.getTime() - d.createdAt.getTime() >= RETRY_FOR_MS ? null : new Date(now.getTime() + backoffMs(d.attempts))
    const failingSince = await markFailed(deps.db, d, result, retryAt, now)
    deps.log.warn({ deliveryId: d.id, endpointId: d.endpointId, status: result.status, error: result.error, attempts: d.attempts, retryAt }, 'event delivery failed')
    if (now.getTime() - failingSince.getTime() >= DISABLE_AFTER_MS) await disable(d, failingSince, now)
    return retryAt === null ? 'failed' : 'retried'
  }

  async function disable (d: ClaimedDelivery, failingSince: Date, now: Date): Promise<void> {
    const reason = `every delivery failed since ${failingSince.toISOString()}`
    await deps.db.transaction(async (tx) => {
      if (!await disableEndpoint(tx, d.endpointId, reason)) return
      await appendAudit(tx, { tenantId: d.tenantId, actor: 'system:webhooks', action: 'webhook.disable', subject: `webhook:${d.endpointId}`, details: { failingSince: failingSince.toISOString() }, at: now })
    })
    deps.log.warn({ endpointId: d.endpointId, failingSince }, 'event endpoint disabled: failing for 3 days')
  }

  /**
   * One round: claims as many due deliveries as this process has free slots for and sends them
   * all; resolves when they are marked. `start` runs rounds side by side, so a slow endpoint's
   * round does not keep the free slots idle.
   */
  let claiming: Promise<unknown> = Promise.resolve()
  async function deliver (): Promise<DeliveryRound> {
    const round: DeliveryRound = { delivered: 0, retried: 0, failed: 0 }
    // One claim at a time in a process, each for the slots free when it starts.
    const claim = claiming.then(async () => {
      const free = concurrency - inFlight
      if (free <= 0) return []
      const now = deps.clock.now()
      // One statement, committed on its own: the claim needs no transaction around it.
      const claimed = await claimDeliveries(deps.db, now, new Date(now.getTime() + LEASE_MS), free, perEndpoint, busy)
      inFlight += claimed.length
      for (const d of claimed) take(d, 1)
      return claimed
    })
    claiming = claim.catch(() => {})
    const claimed = await claim
    const byEndpoint = new Map<string, ClaimedDelivery[]>()
    for (const d of claimed) byEndpoint.set(d.endpointId, [...(byEndpoint.get(d.endpointId) ?? []), d])
    await Promise.all([...byEndpoint.values()].map(async (group) => { await deliverTo(group, round) }))
    return round
  }

  /** Delivers until nothing is due now (tests, and a drain after an outage). */
  async function drain (): Promise<DeliveryRound> {
    const total: DeliveryRound = { delivered: 0, retried: 0, failed: 0 }
    for (;;) {
      const round = await deliver()
      total.delivered += round.delivered
      total.retried += round.retried
      total.failed += round.failed
      if (round.delivered + round.retried + round.failed === 0) return total
    }
  }

  /** Drops events older than EVENTS_KEPT_MS that no endpoint is owed (the sweeper's). */
  async function prune (): Promise<number> {
    let total = 0
    for (;;) {
      const n = await pruneEvents(deps.db, new Date(deps.clock.now().getTime() - EVENTS_KEPT_MS))
      total += n
      if (n === 0) return total
    }
  }

  /**
   * Delivers on its own from now on: a round every `intervalMs`, and another as soon as one that
   * found work ends, so a backlog drains at full speed. A slow endpoint's deliveries finish in
   * their own round while the next rounds carry on with the free slots (at most 4 rounds at once).
   * `stop` waits for the rounds under way.
   */
  function start (intervalMs: number, onError: (err: unknown) => void): { stop (): Promise<void> } {
    let stopped = false
    const rounds = new Set<Promise<unknown>>()
    const pump = (): void => {
      if (stopped || rounds.size >= 4) return
      const round = deliver().then((r) => r.delivered + r.retried + r.failed > 0, (err: unknown) => { onError(err); return false })
      rounds.add(round)
      void round.then((more) => { rounds.delete(round); if (more) pump() })
    }
    const timer = setInterval(pump, intervalMs)
    timer.unref()
    return {
      async stop () {
        stopped = true
        clearInterval(timer)
        await Promise.all(rounds)
      }
    }
  }

  return { deliver, drain, prune, start, get inFlight () { return inFlight } }
}
export type Deliverer = ReturnType<typeof createDeliverer>
