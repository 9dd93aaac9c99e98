// The API routes the console needs (who am I, validate and simulate a flow, list calls) and the
// route that serves the console's files.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import Fastify from 'fastify'
import t from 'tap'
import { markOffboarding } from '../src/db/offboardings.js'
import { ErrorReplySchema } from '../src/errors.js'
import consoleRoutes from '../src/routes/console.js'
import { admin, bearer, signedTwilio, tempDir } from './helper.js'
import { consentingCall, definition, setup } from './media-helpers.js'

const fixture = (name: string) => JSON.parse(readFileSync(new URL(`./fixtures/flows/invalid/${name}.json`, import.meta.url), 'utf8'))

t.test('console API', async (t) => {
  const { app, tenantId, clock, agent } = await setup(t)
  const user = async (tenant: string, role: string) => {
    const res = await app.inject({ method: 'POST', url: '/api/users', headers: admin, payload: { tenantId: tenant, role, name: `${role} person`, email: `${role}@x.test` } })
    t.equal(res.statusCode, 201)
    return { id: res.json().id as string, headers: bearer(res.json().apiKey) }
  }
  const ops = await user(tenantId, 'ops')
  const controller = await user(tenantId, 'controller')
  const otherTenant = (await app.inject({ method: 'POST', url: '/api/tenants', headers: admin, payload: { name: 'Globex' } })).json().id as string
  const otherOps = await user(otherTenant, 'ops')
  const otherController = await user(otherTenant, 'controller')
  const flow = (await app.inject({ method: 'GET', url: '/api/flows', headers: ops.headers })).json()[0]
  const campaignId = flow.campaignId as string

  t.test('GET /api/me names the role and tenant of the key', async (t) => {
    const me = await app.inject({ method: 'GET', url: '/api/me', headers: ops.headers })
    t.equal(me.statusCode, 200)
    t.same(me.json(), { userId: ops.id, tenantId, role: 'ops', actor: `user:${ops.id}`, name: 'ops person' })
    t.match((await app.inject({ method: 'GET', url: '/api/me', headers: agent.headers })).json(), { role: 'agent', tenantId, userId: agent.id })
    t.same((await app.inject({ method: 'GET', url: '/api/me', headers: admin })).json(), { userId: null, tenantId: null, role: 'admin', actor: 'admin-token', name: null })
    t.equal((await app.inject({ method: 'GET', url: '/api/me' })).statusCode, 401)
    t.equal((await app.inject({ method: 'GET', url: '/api/me', headers: bearer('not-a-key') })).statusCode, 401)
  })

  t.test('GET /api/tenants lists every tenant for the admin, with its offboarding state', async (t) => {
    const list = async () => {
      const res = await app.inject({ method: 'GET', url: '/api/tenants', headers: admin })
      t.equal(res.statusCode, 200)
      return res.json() as Array<{ id: string, name: string, createdAt: string, offboardingSince: string | null }>
    }
    const before = await list()
    t.same(before.map((x) => [x.id, x.name, x.offboardingSince]), [[tenantId, 'Acme', null], [otherTenant, 'Globex', null]], 'by name')
    t.ok(before.every((x) => !Number.isNaN(Date.parse(x.createdAt))), 'creation times')
    t.same(Object.keys(before[0]!).sort(), ['createdAt', 'id', 'name', 'offboardingSince'])

    const leaving = (await app.inject({ method: 'POST', url: '/api/tenants', headers: admin, payload: { name: 'Initech' } })).json().id as string
    // The first step of an offboarding: the tenant stays, marked, until its rows are erased.
    const since = new Date('2026-11-24T09:30:00Z')
    await markOffboarding(app.database.db, leaving, since)
    t.match((await list()).find((x) => x.id === leaving), { id: leaving, name: 'Initech', offboardingSince: since.toISOString() }, 'listed as being offboarded')
    const offboarded = await app.inject({ method: 'POST', url: `/api/tenants/${leaving}/offboard`, headers: admin, payload: { confirm: 'Initech' } })
    t.equal(offboarded.statusCode, 200, offboarded.body)
    t.same((await list()).map((x) => x.name), ['Acme', 'Globex'], 'an erased tenant is gone from the list')

    for (const who of [ops, controller, otherController, agent]) {
      const res = await app.inject({ method: 'GET', url: '/api/tenants', headers: who.headers })
      t.equal(res.statusCode, 403, 'tenant users may not list tenants')
      t.notMatch(res.body, /Globex|Acme/)
    }
    t.equal((await app.inject({ method: 'GET', url: '/api/tenants' })).statusCode, 401)
  })

  t.test('POST /api/flows/validate reports every problem at its node, without saving', async (t) => {
    const bad = await app.inject({ method: 'POST', url: '/api/flows/validate', headers: ops.headers, payload: { definition: fixture('record-without-consent').flow } })
    t.equal(bad.statusCode, 200)
    t.equal(bad.json().valid, false)
    t.equal(bad.json().problems.length, 1)
    t.match(bad.json().problems[0], { path: '/nodes/rec', message: /^recording without consent: the path hello → rec/ })
    const several = await app.inject({ method: 'POST', url: '/api/flows/validate', headers: ops.headers, payload: { definition: fixture('several-problems-at-once').flow } })
    t.ok(several.json().problems.length > 1, 'all problems, not the first')

    const good = await app.inject({ method: 'POST', url: '/api/flows/validate', headers: ops.headers, payload: { definition, campaignId } })
    t.match(good.json(), { valid: true, problems: [], publishProblems: [] })
    t.same(Object.keys(good.json()).sort(), ['graph', 'problems', 'publishProblems', 'valid'], 'nothing beyond the reply schema')
    // A campaign with no switchboard cannot take a flow that dials it.
    const bare = (await app.inject({ method: 'POST', url: '/api/campaigns', headers: ops.headers, payload: { name: 'Bare', timezone: 'UTC', retention: { recordingsDays: 1, callLogDays: 1, redactAfterDays: 1 }, lawfulBasis: 'consent' } })).json().id
    const against = await app.inject({ method: 'POST', url: '/api/flows/validate', headers: ops.headers, payload: { definition, campaignId: bare } })
    t.equal(against.json().valid, true)
    t.same(against.json().publishProblems.map((p: { path: string }) => p.path), ['/nodes/hours', '/nodes/afterHours/to'])

    t.equal((await app.inject({ method: 'POST', url: '/api/flows/versions', headers: ops.headers, payload: { definition } })).statusCode, 404, 'no route swallowed by validate')
    t.equal((await app.inject({ method: 'POST', url: '/api/flows/validate', headers: agent.headers, payload: { definition } })).statusCode, 403, 'agents do not edit flows')
    t.equal((await app.inject({ method: 'POST', url: '/api/flows/validate', headers: otherOps.headers, payload: { definition, campaignId } })).statusCode, 404, 'another tenant\'s campaign is not found')
    t.equal((await app.inject({ method: 'POST', url: '/api/flows/validate', headers: ops.headers, payload: {} })).statusCode, 400)
    const versions = (await app.inject({ method: 'GET', url: `/api/flows/${flow.id}/versions`, headers: ops.headers })).json()
    t.equal(versions.length, 1, 'validating saved nothing')
  })

  t.test('POST /api/flows/validate answers the graph the server reads, for the console to draw', async (t) => {
    const validate = async (def: unknown) => {
      const res = await app.inject({ method: 'POST', url: '/api/flows/validate', headers: ops.headers, payload: { definition: def } })
      t.equal(res.statusCode, 200)
      return res.json()
    }
    const good = (await validate(definition)).graph
    t.equal(good.start, 'hours')
    t.same(good.nodes.map((n: { id: string }) => n.id), Object.keys(definition.nodes), 'every node, in definition order')
    t.same(good.nodes.find((n: { id: string }) => n.id === 'record'), { id: 'record', type: 'record', consentOnEntry: true })
    t.same(good.nodes.find((n: { id: string }) => n.id === 'menu'), { id: 'menu', type: 'menu', consentOnEntry: false }, 'reached by denied too')
    t.same(good.edges.filter((e: { from: string }) => e.from === 'consent'), [
      { from: 'consent', to: 'record', label: 'granted', grantsConsent: true },
      { from: 'consent', to: 'menu', label: 'denied', grantsConsent: false },
      { from: 'consent', to: 'menu', label: 'no input', grantsConsent: false }
    ])
    t.same(good.edges.filter((e: { from: string }) => e.from === 'menu').map((e: { label: string }) => e.label), ['1', '9', 'no input'])

    // Invalid but readable: drawn, with the record node shown as reached without consent.
    const bad = await validate(fixture('record-without-consent').flow)
    t.equal(bad.valid, false)
    t.same(bad.graph.nodes, [{ id: 'hello', type: 'say', consentOnEntry: false }, { id: 'rec', type: 'record', consentOnEntry: false }, { id: 'bye', type: 'hangup', consentOnEntry: false }])

    // A node the server cannot read: no graph (the console keeps the last one).
    const unreadable = structuredClone(definition)
    unreadable.nodes.menu.options = 'sales'
    const broken = await validate(unreadable)
    t.equal(broken.valid, false)
    t.equal(broken.graph, null)
    t.equal((await validate('not a flow')).graph, null)
  })

  t.test('POST /api/flows/:id/simulate runs the engine in the flow\'s campaign at the given time', async (t) => {
    const url = `/api/flows/${flow.id}/simulate`
    // Tuesday 10:00 in London: open. The caller consents, then presses 9 to opt out.
    const open = await app.inject({ method: 'POST', url, headers: ops.headers, payload: { digits: ['1', '9'], at: '2026-11-24T10:00:00Z' } })
    t.equal(open.statusCode, 200)
    const run = open.json()
    t.equal(run.version, 1, 'the published version ran')
    t.same(run.path, ['hours', 'welcome', 'consent', 'record', 'menu', 'optout', 'bye'])
    t.equal(run.requests.length, 3)
    t.match(run.requests[0], { input: { kind: 'start' }, waitingAt: 'consent', ended: false, consent: 'unknown', recording: false })
    t.match(run.requests[1], { input: { kind: 'resume', node: 'consent', digits: '1' }, waitingAt: 'menu', consent: 'granted', recording: true })
    t.match(run.requests[1].twiml, /<Stream url="wss:\/\/voice\.callgate\.test\/twilio\/media"/)
    t.match(run.requests[2], { input: { node: 'menu', digits: '9' }, ended: true })
    t.ok(run.requests[2].effects.some((e: { type: string }) => e.type === 'suppress'), 'the opt-out effect is reported')

    // Tuesday 20:00: closed, so the call goes to the campaign's switchboard and never asks.
    const closed = (await app.inject({ method: 'POST', url, headers: ops.headers, payload: { digits: [], at: '2026-11-24T20:00:00Z' } })).json()
    t.same(closed.path, ['hours', 'afterHours'])
    t.match(closed.requests[0].twiml, /<Dial[^>]*>\+442079460000<\/Dial>/)

    // An unsaved definition from the editor; the caller refuses recording.
    const draft = structuredClone(definition)
    draft.nodes.welcome.text = 'Draft greeting.'
    const unsaved = (await app.inject({ method: 'POST', url, headers: ops.headers, payload: { definition: draft, digits: ['2'], at: '2026-11-24T10:00:00Z' } })).json()
    t.equal(unsaved.version, null)
    t.match(unsaved.requests[0].twiml, /Draft greeting\./)
    t.match(unsaved.requests[1], { consent: 'denied', recording: false, waitingAt: 'menu' })
    t.notOk(unsaved.path.includes('record'))

    const invalid = await app.inject({ method: 'POST', url, headers: ops.headers, payload: { definition: fixture('record-without-consent').flow, digits: [], at: '2026-11-24T10:00:00Z' } })
    t.equal(invalid.statusCode, 400)
    t.equal(invalid.json().code, 'CG_INVALID_FLOW')
    t.same(invalid.json().problems.map((p: { path: string }) => p.path), ['/definition/nodes/rec'])
    t.equal((await app.inject({ method: 'POST', url, headers: ops.headers, payload: { version: 7, digits: [], at: '2026-11-24T10:00:00Z' } })).statusCode, 404)
    t.equal((await app.inject({ method: 'POST', url, headers: ops.headers, payload: { digits: ['12a'], at: '2026-11-24T10:00:00Z' } })).statusCode, 400, 'digits are keypad keys')
    t.equal((await app.inject({ method: 'POST', url, headers: ops.headers, payload: { digits: [], at: 'yesterday' } })).statusCode, 400)
    t.equal((await app.inject({ method: 'POST', url, headers: otherOps.headers, payload: { digits: [], at: '2026-11-24T10:00:00Z' } })).statusCode, 404, 'another tenant\'s flow is not found')
    t.equal((await app.inject({ method: 'POST', url, headers: agent.headers, payload: { digits: [], at: '2026-11-24T10:00:00Z' } })).statusCode, 403)

    const fresh = (await app.inject({ method: 'POST', url: '/api/flows', headers: ops.headers, payload: { name: 'Empty', campaignId } })).json()
    const unpublished = await app.inject({ method: 'POST', url: `/api/flows/${fresh.id}/simulate`, headers: ops.headers, payload: { digits: [], at: '2026-11-24T10:00:00Z' } })
    t.equal(unpublished.statusCode, 400)
    t.match(unpublished.json().message, /no published version/)
  })

  t.test('GET /api/calls lists calls newest first, by number, time and outcome, a page at a time', async (t) => {
    const first = await consentingCall(app, '1', '+447700900123')
    clock.advance(60_000)
    const second = await consentingCall(app, '2', '+447700900456')
    clock.advance(60_000)
    const third = await consentingCall(app, '2', '+447700900123')
    await app.inject(signedTwilio('/twilio/status', { CallSid: second.callSid, CallStatus: 'completed', CallDuration: '42' }))
    const list = async (query: string, headers = controller.headers) => {
      const res = await app.inject({ method: 'GET', url: `/api/calls${query}`, headers })
      t.equal(res.statusCode, 200, query)
      return res.json() as { calls: Array<{ callSid: string, status: string, durationSeconds: number | null, recordings: number, callerNumber: string | null }>, nextCursor: string | null }
    }
    const all = await list('')
    t.same(all.calls.map((c) => c.callSid), [third.callSid, second.callSid, first.callSid])
    t.equal(all.nextCursor, null)
    t.equal(all.calls[2]!.callerNumber, null, 'the campaign keeps no caller numbers')
    t.same((await list('', agent.headers)).calls.length, 3, 'agents see calls too')

    t.same((await list('?number=%2B447700900123')).calls.map((c) => c.callSid), [third.callSid, first.callSid])
    t.same((await list('?number=00447700900456')).calls.map((c) => c.callSid), [second.callSid], 'written with 00 works too')
    t.same((await list('?number=%2B447700900999')).calls, [])
    const done = await list('?outcome=completed')
    t.same(done.calls.map((c) => [c.callSid, c.status, c.durationSeconds]), [[second.callSid, 'completed', 42]])
    t.same((await list(`?from=${encodeURIComponent('2026-11-24T10:00:30Z')}&to=${encodeURIComponent('2026-11-24T10:01:30Z')}`)).calls.map((c) => c.callSid), [second.callSid])

    const page1 = await list('?limit=2')
    t.same(page1.calls.map((c) => c.callSid), [third.callSid, second.callSid])
    t.type(page1.nextCursor, 'string')
    const page2 = await list(`?limit=2&cursor=${page1.nextCursor}`)
    t.same(page2.calls.map((c) => c.callSid), [first.callSid])
    t.equal(page2.nextCursor, null)

    const audit = (await app.inject({ method: 'GET', url: '/api/audit?action=call.search', headers: controller.headers })).json().entries
    t.equal(audit.length, 3, 'each search by number is audited (not a plain listing)')
    t.notMatch(JSON.stringify(audit), /447700900/, 'the audit log does not name the number')

    t.equal((await app.inject({ method: 'GET', url: '/api/calls', headers: ops.headers })).statusCode, 403, 'ops do not read calls')
    t.same((await list('', otherController.headers)).calls, [], 'another tenant sees none of them')
    t.equal((await list('', admin)).calls.length, 3, 'the admin sees every tenant')
    t.equal((await app.inject({ method: 'GET', url: '/api/calls?number=hello', headers: controller.headers })).statusCode, 400)
    t.equal((await app.inject({ method: 'GET', url: '/api/calls?cursor=bm9wZQ', headers: controller.headers })).statusCode, 400)
    t.equal((await app.inject({ method: 'GET', url: '/api/calls?limit=500', headers: controller.headers })).statusCode, 400)
  })

  t.test('GET /api/flows/:id/versions names who saved and published each version', async (t) => {
    const url = `/api/flows/${flow.id}/versions`
    const byAdmin = await app.inject({ method: 'POST', url, headers: admin, payload: { definition } })
    t.equal(byAdmin.statusCode, 201)
    t.notOk('createdByName' in byAdmin.json(), 'the saved version\'s reply is unchanged')
    t.equal((await app.inject({ method: 'POST', url: `${url}/2/publish`, headers: ops.headers })).statusCode, 200)
    const byOps = await app.inject({ method: 'POST', url, headers: ops.headers, payload: { definition } })
    t.equal(byOps.statusCode, 201)
    // Revoked since: the name still shows on what the user did.
    t.equal((await app.inject({ method: 'DELETE', url: `/api/users/${ops.id}`, headers: admin })).statusCode, 204)

    const list = await app.inject({ method: 'GET', url, headers: controller.headers })
    t.equal(list.statusCode, 200)
    const versions = list.json() as Array<Record<string, unknown>>
    t.same(versions.map((v) => [v.version, v.createdByName, v.publishedByName]), [
      [1, 'O', 'O'],
      [2, null, 'ops person'],
      [3, 'ops person', null]
    ])
    t.match(versions[1], { createdBy: null, publishedBy: ops.id })
    t.match(versions[2], { createdBy: ops.id, publishedBy: null, publishedAt: null })
    t.same(Object.keys(versions[0]!).sort(), ['createdAt', 'createdBy', 'createdByName', 'publishedAt', 'publishedBy', 'publishedByName', 'version'], 'no definitions in the list')
    t.equal((await app.inject({ method: 'GET', url, headers: otherController.headers })).statusCode, 404, 'another tenant\'s flow is not found')
  })
})

t.test('console files: content types, caching, and a clear 503 before the build', async (t) => {
  const dir = tempDir(t)
  const serve = async (folder: string) => {
    const app = Fastify()
    app.addSchema(ErrorReplySchema)
    await app.register(consoleRoutes, { dir: folder })
    t.teardown(() => app.close())
    return app
  }
  const missing = await serve(join(dir, 'dist'))
  const unbuilt = await missing.inject({ url: '/console' })
  t.equal(unbuilt.statusCode, 503)
  t.match(unbuilt.json().message, /npm run build:console/)
  t.equal(unbuilt.headers['cache-control'], 'no-store')
  t.equal((await missing.inject({ url: '/console/assets/x.js' })).statusCode, 503)

  // The build appears while the server runs: served without a restart.
  mkdirSync(join(dir, 'dist', 'assets'), { recursive: true })
  writeFileSync(join(dir, 'dist', 'index.html'), '<!doctype html><title>console</title>')
  writeFileSync(join(dir, 'dist', 'assets', 'index-abc123.js'), 'console.log(1)')
  writeFileSync(join(dir, 'dist', 'assets', 'index-abc123.css'), 'body{}')
  const page = await missing.inject({ url: '/console' })
  t.equal(page.statusCode, 200)
  t.equal(page.headers['content-type'], 'text/html; charset=utf-8')
  t.equal(page.body, '<!doctype html><title>console</title>')
  t.equal(page.headers['cache-control'], 'no-cache', 'the page is revalidated, so a new build shows at once')
  // Security headers (CSP, nosniff…) come from helmet in app.ts for every route: test/security/headers.test.ts.
  t.equal((await missing.inject({ url: '/console/' })).body, page.body)
  t.equal((await missing.inject({ url: '/console/flows/123' })).body, page.body, 'the app\'s own paths get the page')

  const js = await missing.inject({ url: '/console/assets/index-abc123.js' })
  t.equal(js.statusCode, 200)
  t.equal(js.headers['content-type'], 'text/javascript; charset=utf-8')
  t.equal(js.headers['cache-control'], 'public, max-age=31536000, immutable', 'hashed names are cached for good')
  t.equal(js.body, 'console.log(1)')
  t.equal((await missing.inject({ url: '/console/assets/index-abc123.css' })).headers['content-type'], 'text/css; charset=utf-8')
  const again = await missing.inject({ url: '/console/assets/index-abc123.js', headers: { 'if-none-match': js.headers.etag as string } })
  t.equal(again.statusCode, 304)
  t.equal(again.body, '')
  t.equal((await missing.inject({ url: '/console/assets/gone.js' })).statusCode, 404)
  t.equal((await missing.inject({ url: '/console/../package.json' })).statusCode, 404, 'nothing outside the build')
  t.equal((await missing.inject({ url: '/console/%2e%2e/%2e%2e/package.json' })).statusCode, 404)
})
