// Issue 17, findings 3 and 7: a recording link's PIN cannot be guessed (each link locks after a
// few wrong PINs, in the database; each client is rate-limited; failures are audited), and a
// link ends with its issuer's authority or when a controller revokes the recording's links.
import { eq } from 'drizzle-orm'
import t from 'tap'
import * as schema from '../../src/db/schema.js'
import { admin, bearer } from '../helper.js'
import { recordCall, setup } from '../media-helpers.js'

const pathOf = (url: string) => new URL(url).pathname + new URL(url).search
// The rate limit counts per client in this process: each test speaks from its own address
// (app.inject only sets it; nothing listens) so one test's requests do not spend another's.
const from = (n: number) => `127.0.0.${n}`

t.test('recording links: PIN lock, rate limit, issuer, revocation', async (t) => {
  const { app, tenantId, agent } = await setup(t)
  const newUser = async (tenant: string, role: string, name: string) => {
    const res = (await app.inject({ method: 'POST', url: '/api/users', headers: admin, payload: { tenantId: tenant, role, name, email: `${name}@x.test` } })).json()
    return { id: res.id as string, headers: bearer(res.apiKey) }
  }
  const controller = await newUser(tenantId, 'controller', 'carol')
  const { recordingId } = await recordCall(app, '+447700900123', 1)
  const linkUrl = `/api/recordings/${recordingId}/link`
  const issue = async (headers: Record<string, string>, payload: Record<string, unknown> = {}) => {
    const res = await app.inject({ method: 'POST', url: linkUrl, headers, payload })
    if (res.statusCode !== 200) throw new Error(`link not issued: ${res.statusCode} ${res.body}`)
    return pathOf(res.json().url)
  }
  const fetch = (url: string, ip: string, pin?: string) =>
    app.inject({ method: 'GET', url, remoteAddress: ip, headers: { range: 'bytes=0-3', ...(pin !== undefined ? { 'x-recording-pin': pin } : {}) } })
  const audit = async (action: string) =>
    (await app.inject({ method: 'GET', url: `/api/audit?action=${action}`, headers: controller.headers })).json().entries as Array<{ actor: string, subject: string, details: Record<string, unknown> }>

  t.test('a link locks after 5 wrong PINs, the right PIN is then refused, each failure is audited', async (t) => {
    const ip = from(11)
    const url = await issue(controller.headers, { pin: '482913', expiresInSeconds: 3600 })
    t.equal((await fetch(url, ip, '482913')).statusCode, 206, 'the right PIN plays')
    const guesses = ['000000', '111111', '222222', '333333']
    for (const [i, guess] of guesses.entries()) {
      const res = await fetch(url, ip, guess)
      t.equal(res.statusCode, 403, `wrong PIN ${i + 1} refused`)
      t.match(res.json().message, `${4 - i} of 5 attempts left`, 'the reply says how many attempts are left')
    }
    const fifth = await fetch(url, ip, '444444')
    t.equal(fifth.statusCode, 423, 'the fifth wrong PIN locks the link')
    t.match(fifth.json(), { error: 'Locked', message: /locked after 5 wrong PINs/ })
    const right = await fetch(url, ip, '482913')
    t.equal(right.statusCode, 423, 'the right PIN is refused once locked')
    t.match(right.json().message, /ask for a new link/)

    const failures = await audit('recording.link.pin-failed')
    t.equal(failures.length, 5, 'each wrong PIN audited')
    t.same(failures.map((e) => e.details.failures), [1, 2, 3, 4, 5])
    t.match(failures[0], { subject: `recording:${recordingId}`, actor: `user:${controller.id}`, details: { ip, maxFailures: 5 } })
    const locked = await audit('recording.link.locked')
    t.equal(locked.length, 1, 'the lock audited once')
    const logged = JSON.stringify([...failures, ...locked])
    for (const pin of [...guesses, '444444', '482913']) t.notOk(logged.includes(pin), `no PIN (${pin}) in the audit log`)

    // Durable: the lock is the link's row, not this process's memory, and there is no PIN column.
    const [row] = await app.database.db.select().from(schema.recordingLinks).where(eq(schema.recordingLinks.id, failures[0]!.details.link as string))
    t.match(row, { pinFailures: 5, lockedAt: Date })
    t.notOk(JSON.stringify(row).includes('482913'), 'the PIN is not stored')
    t.equal((await fetch(await issue(controller.headers, { pin: '482913' }), ip, '482913')).statusCode, 206, 'a new link from the issuer plays')
  })

  t.test('concurrent guesses at one link are counted one at a time: 5 and no more', async (t) => {
    const url = await issue(controller.headers, { pin: '7355608' })
    const ip = from(12)
    const replies = await Promise.all(Array.from({ length: 12 }, (_, i) => fetch(url, ip, String(1000000 + i))))
    const codes = replies.map((r) => r.statusCode).sort()
    t.same(codes, [...Array(4).fill(403), ...Array(8).fill(423)], '4 refused, the 5th locks, the rest find it locked')
    t.equal((await fetch(url, ip, '7355608')).statusCode, 423)
  })

  t.test('one client gets 429 after 60 fetches a minute; another client is not held back', async (t) => {
    const ip = from(13)
    const url = `/recordings/${recordingId}?token=guess`
    for (let i = 0; i < 60; i++) {
      const res = await fetch(url, ip)
      if (res.statusCode !== 403) t.fail(`request ${i + 1} answered ${res.statusCode}`)
    }
    const limited = await fetch(url, ip)
    t.equal(limited.statusCode, 429, 'the 61st request in the minute')
    t.match(limited.json().message, /at most 60 a minute per client/)
    t.ok(Number(limited.headers['retry-after']) > 0, 'says when to retry')
    t.equal((await fetch(await issue(controller.headers), from(14))).statusCode, 206, 'another client still plays')
    t.equal((await app.inject({ method: 'GET', url: '/healthz', remoteAddress: ip })).statusCode, 200, 'only the playback route is limited')
  })

  t.test('a link stops playing when its issuer is revoked', async (t) => {
    const ip = from(15)
    const dora = await newUser(tenantId, 'controller', 'dora')
    const url = await issue(dora.headers, { expiresInSeconds: 24 * 3600 })
    const pinned = await issue(dora.headers, { pin: '2468' })
    t.equal((await fetch(url, ip)).statusCode, 206, 'plays while dora is a controller')
    t.equal((await app.inject({ method: 'DELETE', url: `/api/users/${dora.id}`, headers: admin })).statusCode, 204, 'dora revoked')
    const refused = await fetch(url, ip)
    t.equal(refused.statusCode, 403, 'her 24-hour link no longer plays')
    t.match(refused.json().message, `its issuer (user:${dora.id}) is revoked or no longer a controller`)
    t.equal((await fetch(pinned, ip, '2468')).statusCode, 403, 'nor her PIN link with the right PIN')
    t.equal((await fetch(await issue(admin), ip)).statusCode, 206, 'a link the admin token issued plays')
  })

  t.test('a controller revokes every link of a recording', async (t) => {
    const ip = from(16)
    const a = await issue(controller.headers)
    const b = await issue(controller.headers, { pin: '9090' })
    t.equal((await fetch(a, ip)).statusCode, 206)
    const revokeUrl = `/api/recordings/${recordingId}/links`
    t.equal((await app.inject({ method: 'DELETE', url: revokeUrl, headers: agent.headers })).statusCode, 403, 'an agent may not')
    const stranger = await newUser((await app.inject({ method: 'POST', url: '/api/tenants', headers: admin, payload: { name: 'Globex' } })).json().id, 'controller', 'sam')
    t.equal((await app.inject({ method: 'DELETE', url: revokeUrl, headers: stranger.headers })).statusCode, 404, 'another tenant cannot see the recording')

    const revoked = await app.inject({ method: 'DELETE', url: revokeUrl, headers: controller.headers })
    t.equal(revoked.statusCode, 200)
    t.ok(revoked.json().revoked >= 2, 'every link issued so far (not yet expired) is revoked', { reply: revoked.json() })
    for (const [url, pin] of [[a, undefined], [b, '9090']] as const) {
      const res = await fetch(url, ip, pin)
      t.equal(res.statusCode, 410, 'a revoked link is gone')
      t.match(res.json(), { error: 'Gone', message: /link revoked at .*; ask for a new link/ })
    }
    const entries = await audit('recording.link.revoke')
    t.equal(entries.length, 1, 'the revocation audited')
    t.match(entries[0], { actor: `user:${controller.id}`, subject: `recording:${recordingId}`, details: { links: revoked.json().revoked } })
    t.equal((await app.inject({ method: 'DELETE', url: revokeUrl, headers: controller.headers })).json().revoked, 0, 'nothing left to revoke')
    t.equal((await fetch(await issue(controller.headers), ip)).statusCode, 206, 'a link issued afterwards plays')
  })
})
