import { randomBytes, randomUUID } from 'node:crypto'
import { audited } from '../audit/audited.js'
import { readScope, requireRole, writeTenant, type Principal } from '../auth/principal.js'
import type { Clock } from '../clock.js'
import type { FieldCipher } from '../crypto/field-cipher.js'
import type { Db } from '../db/client.js'
import { tenantExists } from '../db/users.js'
import { deleteEndpoint, enableEndpoint, findEndpoint, insertEndpoint, listDeliveries, listEndpoints, requeueDelivery, type Delivery, type Endpoint } from '../db/webhooks.js'
import type { DeliveryStatus } from '../db/schema.js'
import { BadRequest, NotFound } from '../errors.js'
import { assertPublic, PrivateAddress, urlProblem } from './address-guard.js'
import { secretContext } from './deliverer.js'

export interface EndpointDeps {
  db: Db
  clock: Clock
  fields (tenantId: string): Promise<FieldCipher>
  allowPrivate: boolean
}

export interface NewEndpoint { url: string, events: string[], description?: string, tenantId?: string }

/** The tenants' event endpoints (DESIGN "Events to the customer's systems"): controllers' and admins'. */
export function createWebhookEndpoints (deps: EndpointDeps) {
  const { db, clock } = deps

  async function own (principal: Principal, id: string): Promise<Endpoint> {
    requireRole(principal, 'controller')
    const found = await findEndpoint(db, id, readScope(principal))
    if (found === null) throw new NotFound('webhook')
    return found
  }

  /** Registers an endpoint; the reply's secret is the only time it is shown. */
  async function register (principal: Principal, input: NewEndpoint): Promise<{ id: string, secret: string }> {
    requireRole(principal, 'controller')
    const tenantId = writeTenant(principal, input.tenantId)
    const problem = urlProblem(input.url)
    if (problem !== null) throw new BadRequest(`body/url ${problem}`)
    if (!deps.allowPrivate) {
      try {
        await assertPublic(input.url)
      } catch (err) {
        throw new BadRequest(err instanceof PrivateAddress ? `body/url: ${err.message}` : `body/url: its host could not be resolved (${(err as NodeJS.ErrnoException).code ?? 'error'})`)
      }
    }
    const events = [...new Set(input.events)]
    if (events.includes('*') && events.length > 1) throw new BadRequest('body/events: "*" already takes every event; list it alone')
    if (!await tenantExists(db, tenantId)) throw new NotFound('body/tenantId')
    const id = randomUUID()
    const secret = `whsec_${randomBytes(32).toString('base64')}`
    const sealedSecret = (await deps.fields(tenantId)).seal(secret, secretContext(id))
    const now = clock.now()
    await audited(db, async (tx) => await insertEndpoint(tx, { id, tenantId, url: input.url, events, description: input.description ?? null, sealedSecret, createdBy: principal.actor, at: now }),
      { tenantId, actor: principal.actor, action: 'webhook.create', subject: `webhook:${id}`, details: { url: input.url, events }, at: now })
    return { id, secret }
  }

  async function list (principal: Principal, tenantId?: string): Promise<Endpoint[]> {
    requireRole(principal, 'controller')
    const scope = readScope(principal)
    return await listEndpoints(db, scope ?? tenantId ?? null)
  }

  async function remove (principal: Principal, id: string): Promise<void> {
    const found = await own(principal, id)
    const now = clock.now()
    await audited(db, async (tx) => await deleteEndpoint(tx, found.id, found.tenantId),
      (gone) => gone === null ? null : { tenantId: found.tenantId, actor: principal.actor, action: 'webhook.delete', subject: `webhook:${id}`, details: { url: found.url }, at: now })
  }

  async function deliveries (principal: Principal, id: string, query: { limit?: number, status?: DeliveryStatus }): Promise<Delivery[]> {
    const found = await own(principal, id)
    return await listDeliveries(db, found.id, query.limit ?? 50, query.status)
  }

  /** Sends one delivery again now (a disabled endpoint is turned back on: a person asked for it). */
  async function retry (principal: Principal, id: string, deliveryId: string): Promise<{ id: string, status: 'pending', nextAttemptAt: string }> {
    const found = await own(principal, id)
    const now = clock.now()
    const done = await audited(db, async (tx) => {
      const requeued = await requeueDelivery(tx, found.id, deliveryId, now)
      if (requeued === null) throw new NotFound('delivery')
      return { ...requeued, enabled: await enableEndpoint(tx, found.id) }
    }, (r) => ({ tenantId: found.tenantId, actor: principal.actor, action: 'webhook.retry', subject: `webhook:${id}`, details: { deliveryId, previous: r.previous, endpointEnabled: r.enabled }, at: now }))
    return { id: done.id, status: 'pending', nextAttemptAt: now.toISOString() }
  }

  return { register, list, remove, deliveries, retry }
}
export type WebhookEndpoints = ReturnType<typeof createWebhookEndpoints>
