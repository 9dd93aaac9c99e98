import { readFileSync } from 'node:fs'
import { buffer } from 'node:stream/consumers'
import { eq } from 'drizzle-orm'
import { extract } from 'tar-stream'
import t from 'tap'
import { auditLog, contacts } from '../../src/db/schema.js'
import { hashNumber } from '../../src/privacy/number-hash.js'
import { NUMBER, setup } from '../call-setup.js'
import { admin, bearer } from '../helper.js'

const dialler = (flowId: string, over: Record<string, unknown> = {}) => ({
  flowId,
  callerId: NUMBER,
  maxConcurrent: 2,
  callsPerMinute: 30,
  maxAttempts: 3,
  retryAfterSeconds: { busy: 900, noAnswer: 3600, failed: 3600, machine: 14400 },
  machineDetection: 'detect',
  abandonLimitPercent: 3,
  ...over
})

const csv = (lines: string[]) => ({ 'content-type': 'text/csv' as const, body: lines.join('\n') + '\n' })

const outboundFlow = JSON.parse(readFileSync(new URL('../../examples/outbound-flow.json', import.meta.url), 'utf8'))

t.test('dialler settings: the flow is the campaign\'s and lets the callee refuse, the caller ID one of its numbers', async (t) => {
  const { app, opsKey, campaignId, flowId: inboundFlowId } = await setup(t)
  const ops = bearer(opsKey)
  const patch = async (body: unknown) => await app.inject({ method: 'PATCH', url: `/api/campaigns/${campaignId}`, headers: ops, payload: { dialler: body } })
  const flowId = (await app.inject({ method: 'POST', url: '/api/flows', headers: ops, payload: { name: 'Outbound', campaignId } })).json().id
  t.equal((await app.inject({ method: 'POST', url: `/api/flows/${flowId}/versions`, headers: ops, payload: { definition: outboundFlow } })).statusCode, 201)
  t.equal((await app.inject({ method: 'POST', url: `/api/flows/${flowId}/versions/1/publish`, headers: ops })).statusCode, 200)

  // The inbound flow transfers out of hours before any menu: no way for the callee to refuse.
  const noRefusal = await patch(dialler(inboundFlowId))
  t.equal(noRefusal.statusCode, 400)
  t.match(noRefusal.json().message, /body\/dialler\/flowId.*\/nodes\/afterHours outbound call without a way to refuse: the path hours → afterHours/)

  const otherFlow = await patch(dialler('00000000-0000-4000-8000-000000000000'))
  t.equal(otherFlow.statusCode, 400)
  t.match(otherFlow.json().message, 'body/dialler/flowId')
  const unbound = await patch(dialler(flowId, { callerId: '+442079460999' }))
  t.equal(unbound.statusCode, 400)
  t.match(unbound.json().message, 'body/dialler/callerId')
  const zero = await patch(dialler(flowId, { maxConcurrent: 0 }))
  t.equal(zero.statusCode, 400)
  t.match(zero.json().message, 'maxConcurrent')

  const ok = await patch(dialler(flowId))
  t.equal(ok.statusCode, 200)
  t.same(ok.json().dialler, dialler(flowId), 'stored as sent')
  t.same((await app.inject({ url: `/api/campaigns/${campaignId}`, headers: ops })).json().dialler, dialler(flowId))

  // Once it is the dialler's flow, a version without the offer cannot be published.
  const rude = { ...outboundFlow, nodes: { ...outboundFlow.nodes, menu: { ...outboundFlow.nodes.menu, options: { 1: 'adviser' } } } }
  delete rude.nodes.optout
  t.equal((await app.inject({ method: 'POST', url: `/api/flows/${flowId}/versions`, headers: ops, payload: { definition: rude } })).statusCode, 201)
  const refused = await app.inject({ method: 'POST', url: `/api/flows/${flowId}/versions/2/publish`, headers: ops })
  t.equal(refused.statusCode, 400)
  t.match(refused.json().message, 'outbound call without a way to refuse')
  t.equal((await app.inject({ url: `/api/flows/${flowId}`, headers: ops })).json().publishedVersion, 1, 'version 1 stays live')
})

t.test('a contact list imports streamed: normalised, de-duplicated, invalid lines by number, numbers sealed', async (t) => {
  const { app, opsKey, campaignId, tenantId } = await setup(t)
  const ops = bearer(opsKey)
  const post = async (body: { 'content-type': string, body: string }, query = '?country=GB', headers = ops) =>
    await app.inject({ method: 'POST', url: `/api/campaigns/${campaignId}/contacts${query}`, headers: { ...headers, 'content-type': body['content-type'] }, payload: body.body })

  const list = csv([
    'number,reference,timezone',
    '+447700900001,lead-1,',
    '07700 900002,"lead-2, the second",Europe/Paris',
    'not a number,lead-3',
    '+447700900004,lead-4,Mars/Olympus',
    '+44 7700 900001,lead-1-again',
    '',
    '+447700900006'
  ])
  const first = await post(list)
  t.equal(first.statusCode, 200, first.body)
  t.same(first.json(), { lines: 8, added: 3, duplicates: 1, invalid: 2, invalidLines: [4, 5] })
  const again = await post(list)
  t.same(again.json(), { lines: 8, added: 0, duplicates: 4, invalid: 2, invalidLines: [4, 5] }, 'sent twice: nothing added')

  const noCountry = await post(csv(['07700 900009']), '')
  t.same(noCountry.json(), { lines: 1, added: 0, duplicates: 0, invalid: 1, invalidLines: [1] }, 'a national number needs ?country= or the campaign\'s defaultCountry')

  t.equal((await post({ 'content-type': 'application/json', body: '{}' })).statusCode, 415)
  const agentKey = (await app.inject({ method: 'POST', url: '/api/users', headers: admin, payload: { tenantId, role: 'agent', name: 'Ann', email: 'agent@acme.test' } })).json().apiKey
  t.equal((await post(csv(['+447700900010']), '', bearer(agentKey))).statusCode, 403, 'agents do not import lists')

  const rows = await app.database.db.select().from(contacts).where(eq(contacts.campaignId, campaignId))
  t.equal(rows.length, 3)
  for (const row of rows) {
    t.notMatch(row.numberSealed, /7700/, 'the number is not stored in clear')
    t.equal(row.status, 'pending')
  }
  t.ok(rows.some((r) => r.numberHash === hashNumber(app.config.numberHashKey, '+447700900002')), 'matched by its keyed hash')
  const [audit] = await app.database.db.select().from(auditLog).where(eq(auditLog.action, 'contacts.import'))
  t.match(audit!.details, { added: 3, duplicates: 1, invalid: 2 })
  t.notMatch(JSON.stringify(audit!.details), /7700/, 'no number in the audit log')

  // Listed page by page, numbers in clear for the people who run the campaign.
  const page1 = await app.inject({ url: `/api/campaigns/${campaignId}/contacts?limit=2`, headers: ops })
  t.equal(page1.statusCode, 200)
  t.equal(page1.json().contacts.length, 2)
  const page2 = await app.inject({ url: `/api/campaigns/${campaignId}/contacts?limit=2&cursor=${page1.json().nextCursor}`, headers: ops })
  t.equal(page2.json().nextCursor, null)
  const all = [...page1.json().contacts, ...page2.json().contacts]
  t.same(all.map((c: { number: string }) => c.number).sort(), ['+447700900001', '+447700900002', '+447700900006'])
  const second = all.find((c: { number: string }) => c.number === '+447700900002')
  t.same(second, { id: second.id, number: '+447700900002', reference: 'lead-2, the second', status: 'pending', attempts: 0, lastOutcome: null, nextAttemptAt: null }, 'the shape DESIGN gives, and nothing more')
  t.equal(rows.find((r) => r.id === second.id)!.timezone, 'Europe/Paris', 'the time zone is kept for the calling window')
  t.equal((await app.inject({ url: `/api/campaigns/${campaignId}/contacts?status=completed`, headers: ops })).json().contacts.length, 0)
  t.equal((await app.database.db.select().from(auditLog).where(eq(auditLog.action, 'contacts.read'))).length, 3, 'each listing is on record')

  // Sealed for this campaign: the same ciphertext moved to another row does not open.
  const fields = await app.tenantKeys.fieldsOf(tenantId)
  t.equal(fields.open(rows[0]!.numberSealed, campaignId).startsWith('+44'), true)
  t.throws(() => fields.open(rows[0]!.numberSealed, '00000000-0000-4000-8000-000000000000'))

  // The tenant export hands the list over usable: numbers in clear, nothing sealed.
  const exported = await app.inject({ url: `/api/tenants/${tenantId}/export`, headers: admin })
  t.equal(exported.statusCode, 200)
  const files = new Map<string, Buffer>()
  const reader = extract()
  reader.on('entry', (header, stream, next) => { buffer(stream).then((body) => { files.set(header.name, body); next() }, next) })
  const done = new Promise<void>((resolve, reject) => { reader.on('finish', () => resolve()); reader.on('error', reject) })
  reader.end(exported.rawPayload)
  await done
  const handed = (files.get('contacts.jsonl')?.toString('utf8') ?? '').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>)
  t.same(handed.map((c) => c.number).sort(), ['+447700900001', '+447700900002', '+447700900006'])
  t.notOk(handed.some((c) => 'numberSealed' in c), 'no sealed copy in the hand-over')

  // Erasure of the person takes them off the list.
  const controllerKey = (await app.inject({ method: 'POST', url: '/api/users', headers: admin, payload: { tenantId, role: 'controller', name: 'Cleo', email: 'dpo@acme.test' } })).json().apiKey
  const erasure = await app.inject({ method: 'POST', url: '/api/dsr', headers: bearer(controllerKey), payload: { type: 'erasure', number: '+447700900002' } })
  t.equal(erasure.statusCode, 201)
  t.equal(erasure.json().result.contactsDeleted, 1)
  const left = (await app.inject({ url: `/api/campaigns/${campaignId}/contacts`, headers: ops })).json().contacts
  t.same(left.map((c: { number: string }) => c.number).sort(), ['+447700900001', '+447700900006'])
})

t.test('preview: who would be called now, who skipped and why, and when the window opens', async (t) => {
  const { app, clock, opsKey, campaignId } = await setup(t)
  const ops = bearer(opsKey)
  // On the lists before the import: the import takes every number, screening is the preview's and
  // the dialler's (a number suppressed after the import leaves the list at once instead).
  t.equal((await app.inject({ method: 'POST', url: '/api/suppressions', headers: ops, payload: { number: '+447700900101' } })).statusCode, 201)
  t.equal((await app.inject({ method: 'POST', url: '/api/suppressions/import?source=registry', headers: { ...ops, 'content-type': 'text/csv' }, payload: '+447700900102\n' })).json().added, 1)
  const imported = await app.inject({
    method: 'POST',
    url: `/api/campaigns/${campaignId}/contacts`,
    headers: { ...ops, 'content-type': 'text/csv' },
    payload: ['+447700900101', '+447700900102', '+447700900103', '+447700900104,,Asia/Tokyo', '+447700900105'].join('\n')
  })
  t.equal(imported.json().added, 5)

  // Tuesday 10:00 in London (open); 19:00 in Tokyo (closed).
  const now = await app.inject({ url: `/api/campaigns/${campaignId}/preview`, headers: ops })
  t.equal(now.statusCode, 200)
  t.same(now.json(), { contacts: 5, callableNow: 2, skipped: { suppressed: 1, registry: 1, restricted: 0, cap: 0, outsideWindow: 1 }, windowOpensAt: '2026-11-24T10:00:00.000Z' })

  // Saturday 10:00 UTC: closed in London until Sunday 09:00, in Tokyo until Sunday 09:00 there.
  clock.set('2026-11-28T10:00:00Z')
  const weekend = (await app.inject({ url: `/api/campaigns/${campaignId}/preview`, headers: ops })).json()
  t.same(weekend.skipped, { suppressed: 1, registry: 1, restricted: 0, cap: 0, outsideWindow: 3 })
  t.equal(weekend.callableNow, 0)
  t.equal(weekend.windowOpensAt, '2026-11-29T00:00:00.000Z', 'the earliest opening of any contact\'s zone')

  // Once the campaign has ended, nothing opens again.
  t.equal((await app.inject({ method: 'PATCH', url: `/api/campaigns/${campaignId}`, headers: ops, payload: { endsAt: '2026-11-28T00:00:00Z' } })).statusCode, 200)
  const ended = (await app.inject({ url: `/api/campaigns/${campaignId}/preview`, headers: ops })).json()
  t.match(ended, { callableNow: 0, windowOpensAt: null })
  t.ok((await app.database.db.select().from(auditLog).where(eq(auditLog.action, 'campaign.preview'))).length === 3, 'each preview is on record')
})
