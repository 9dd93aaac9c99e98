// The console end to end: headless Chromium (Debian's, driven by playwright-core) against the
// real server listening on 127.0.0.1, with its real database and S3-protocol store. Each page
// is saved as a screenshot in test/output/console/ (not committed).
import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { AddressInfo } from 'node:net'
import { chromium } from 'playwright-core'
import t from 'tap'
import { defaultConsoleDir } from '../../src/routes/console.js'
import { admin, ADMIN_TOKEN, tempDir } from '../helper.js'
import { definition, NUMBER, recordCall, setup, wav } from '../media-helpers.js'

const CHROMIUM = '/usr/bin/chromium'
const SHOTS = fileURLToPath(new URL('../output/console/', import.meta.url))
const CALLER = '+447700900123'
const SECONDS = 2

// The slice of the DOM's HTMLAudioElement the test reads (the test code is type-checked without DOM types).
interface AudioElement { readyState: number, duration: number, error: { code: number, message: string } | null, addEventListener (type: string, fn: () => void): void }

// npm ci/install build the console (the "prepare" script); a checkout that skipped it is built here.
if (!existsSync(`${defaultConsoleDir}/index.html`)) {
  const vite = createRequire(import.meta.url).resolve('vite/bin/vite.js')
  execFileSync(process.execPath, [vite, 'build', '--config', fileURLToPath(new URL('../../console/vite.config.ts', import.meta.url))], { stdio: 'inherit' })
}

t.test('the console in a browser', { skip: existsSync(CHROMIUM) ? false : `${CHROMIUM} is missing (apt-get install chromium)` }, async (t) => {
  const { app, tenantId } = await setup(t)
  const key = async (role: string) => (await app.inject({ method: 'POST', url: '/api/users', headers: admin, payload: { tenantId, role, name: `Pat ${role}`, email: `${role}@acme.test` } })).json().apiKey as string
  const opsKey = await key('ops')
  const controllerKey = await key('controller')
  const agentKey = await key('agent')
  // A consenting caller's call, recorded through the real media pipeline into encrypted storage.
  const recorded = await recordCall(app, CALLER, SECONDS)
  const campaign = (await app.inject({ method: 'GET', url: '/api/campaigns', headers: { authorization: `Bearer ${opsKey}` } })).json()[0]

  await app.listen({ host: '127.0.0.1', port: 0 })
  const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`

  const context = await chromium.launchPersistentContext(tempDir(t, 'callgate-chromium-'), {
    executablePath: CHROMIUM,
    headless: true,
    // Without the background-networking flags Chromium reaches for Google's services, which this closed network refuses.
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1360, height: 900 }
  })
  t.teardown(() => context.close())
  // The page's CSP allows only this server: any violation (an inline script, a remote font…) is recorded.
  await context.addInitScript('window.__cspViolations = []; document.addEventListener("securitypolicyviolation", (e) => window.__cspViolations.push(e.violatedDirective + " " + e.blockedURI))')
  const page = context.pages()[0] ?? await context.newPage()
  page.setDefaultTimeout(15_000)
  const pageErrors: string[] = []
  page.on('pageerror', (err) => pageErrors.push(err.message))
  const urls: string[] = []
  page.on('request', (req) => urls.push(req.url()))
  mkdirSync(SHOTS, { recursive: true })
  const shot = (name: string) => page.screenshot({ path: `${SHOTS}${name}.png`, fullPage: true })

  const signIn = async (apiKey: string, role: string) => {
    await page.goto(`${base}/console`)
    await page.fill('input[name=apiKey]', apiKey)
    await page.click('button[type=submit]')
    await page.waitForSelector(`[data-testid=role]:text-is("${role}")`)
  }
  const signOut = async () => {
    await page.click('text=Sign out')
    await page.waitForSelector('input[name=apiKey]')
  }
  const nav = async () => page.$$eval('nav a[data-page]', (links) => links.map((a) => a.getAttribute('data-page')))

  await page.goto(`${base}/console`)
  await page.waitForSelector('input[name=apiKey]')
  await shot('01-sign-in')
  await page.fill('input[name=apiKey]', 'not-a-key')
  await page.click('button[type=submit]')
  t.match(await page.textContent('[role=alert]'), /not accepted/, 'a wrong key is refused')

  t.test('ops: a flow with a problem flagged at its node, fixed, published and simulated', async (t) => {
    await signIn(opsKey, 'ops')
    t.same(await nav(), ['flows', 'campaigns', 'outbound', 'numbers', 'suppression'])
    t.equal(await page.evaluate('sessionStorage.getItem("callgate.apiKey")'), opsKey, 'the key is in sessionStorage')
    await page.waitForSelector('tr[data-flow="R"]')
    await shot('02-flows')

    await page.fill('form[data-form=new-flow] input[name=name]', 'Console flow')
    await page.selectOption('form[data-form=new-flow] select[name=campaignId]', campaign.id)
    await page.click('form[data-form=new-flow] button[type=submit]')
    await page.waitForSelector('textarea.json')
    const flowId = /#\/flows\/([0-9a-f-]{36})$/.exec(page.url())?.[1]
    t.ok(flowId, 'the editor opened the new flow')
    t.equal(await page.textContent('[data-testid=published-version]'), 'not published')

    // Greeting straight into the record node: recording without consent, and the consent node orphaned.
    const broken = structuredClone(definition)
    broken.nodes.welcome.next = 'record'
    await page.fill('textarea.json', JSON.stringify(broken, null, 2))
    await page.waitForSelector('[data-testid=validity]:text-is("2 problems")')
    t.match(await page.textContent('li[data-node=record] .problem'), /recording without consent: the path hours → welcome → record/)
    t.match(await page.textContent('li[data-node=consent] .problem'), /node "consent" is unreachable from start/)
    t.equal(await page.locator('li[data-node=menu] .problem').count(), 0, 'nothing flagged at a node without a problem')
    t.equal(await page.getAttribute('svg.graph g[data-node=record]', 'data-consent'), 'ungated', 'the graph marks the record node as reached without consent')
    t.match(await page.getAttribute('svg.graph g[data-node=record]', 'class'), /flagged/)
    t.ok(await page.isDisabled('text=Save as new version'), 'an invalid definition cannot be saved')
    await shot('03-flow-problem')

    // Mid-edit, a node the server cannot read: the last graph it could stays on screen, marked so.
    const unreadable = structuredClone(broken)
    unreadable.nodes.menu.options = 'sales'
    await page.fill('textarea.json', JSON.stringify(unreadable, null, 2))
    await page.waitForSelector('[data-testid=graph-stale]')
    t.equal(await page.getAttribute('svg.graph g[data-node=record]', 'data-consent'), 'ungated', 'the last graph is still drawn')

    await page.fill('textarea.json', JSON.stringify(definition, null, 2))
    await page.waitForSelector('[data-testid=validity]:text-is("valid")')
    t.equal(await page.locator('.nodes-panel .problem').count(), 0)
    t.equal(await page.getAttribute('svg.graph g[data-node=record]', 'data-consent'), 'gated', 'fixed: the record node is behind consent')
    t.equal(await page.locator('svg.graph g.edge.granted[data-from=consent][data-to=record]').count(), 1)
    await page.click('text=Save as new version')
    await page.waitForSelector('[data-testid=flow-message]:text-is("Saved as version 1.")')
    await page.click('button:text-is("Publish v1")')
    await page.waitForSelector('[data-testid=flow-message]:text-is("Published version 1.")')
    t.equal(await page.textContent('[data-testid=published-version]'), 'version 1')
    t.match(await page.textContent('tr[data-version="1"]'), /v1 \(live\)/)
    t.equal(await page.textContent('tr[data-version="1"] [data-testid=saved-by]'), 'Pat ops', 'saved by a name, not an id')
    t.match(await page.textContent('tr[data-version="1"]'), / by Pat ops/)
    const stored = (await app.inject({ method: 'GET', url: `/api/flows/${flowId}`, headers: { authorization: `Bearer ${opsKey}` } })).json()
    t.equal(stored.publishedVersion, 1, 'the server has version 1 live')

    // Tuesday 10:00 in London, inside the campaign's hours: consent, then 9 to opt out.
    await page.fill('.simulator input[name=digits]', '1,9')
    await page.fill('.simulator input[name=at]', '2026-11-24T10:00Z')
    await page.click('.simulator button[type=submit]')
    await page.waitForSelector('[data-testid=sim-path]')
    t.equal(await page.textContent('[data-testid=sim-path]'), 'hours → welcome → consent → record → menu → optout → bye')
    t.match(await page.textContent('li[data-request="1"] pre.twiml'), /<Start><Stream url="wss:\/\/voice\.callgate\.test\/twilio\/media"/)
    t.match(await page.textContent('li[data-request="2"]'), /call ended/)
    await shot('04-flow-published-and-simulated')

    await page.click('nav a[data-page=campaigns]')
    await page.click(`a[href="#/campaigns/${campaign.id}"]`)
    await page.fill('input[name=holidays]', '2026-12-25, 2026-12-28')
    await page.fill('textarea[name=lia-purpose]', 'Train staff on real calls.')
    await page.fill('textarea[name=lia-necessity]', 'Notes miss what was said.')
    await page.fill('textarea[name=lia-balancing]', 'Callers are asked first and may refuse.')
    await page.selectOption('select[name=lawfulBasis]', 'legitimate_interest')
    await page.click('text=Save campaign')
    await page.waitForSelector('form.campaign [role=status]:text-is("Saved.")')
    const saved = (await app.inject({ method: 'GET', url: `/api/campaigns/${campaign.id}`, headers: { authorization: `Bearer ${opsKey}` } })).json()
    t.same(saved.holidays, ['2026-12-25', '2026-12-28'])
    t.same(saved.lia, { purpose: 'Train staff on real calls.', necessity: 'Notes miss what was said.', balancing: 'Callers are asked first and may refuse.' })
    t.equal(saved.lawfulBasis, 'legitimate_interest')
    await shot('05-campaign')
    await signOut()
  })

  t.test('controller: a call, its evidence and recording; suppression; an access request; the audit log', async (t) => {
    await signIn(controllerKey, 'controller')
    t.same(await nav(), ['campaigns', 'outbound', 'calls', 'suppression', 'dsr', 'audit', 'webhooks'])
    await page.click('nav a[data-page=calls]')
    await page.fill('input[name=number]', CALLER)
    await page.click('text=Search')
    await page.waitForSelector(`tr[data-call="${recorded.callSid}"]`)
    t.equal(await page.locator('table[data-testid=calls] tbody tr').count(), 1, 'the one call from that number')
    await shot('06-calls')

    await page.click(`tr[data-call="${recorded.callSid}"] a`)
    await page.waitForSelector('[data-testid=timeline] li')
    t.match(await page.textContent('[data-testid=timeline]'), /recording-started/)
    t.match(await page.textContent('table[data-testid=consents]'), /granted/)
    await page.click('text=Get a listening link')
    const audio = page.locator(`[data-recording="${recorded.recordingId}"] audio`)
    await audio.waitFor()
    const src = await audio.getAttribute('src')
    t.match(src, new RegExp(`^/recordings/${recorded.recordingId}\\?token=`), 'the signed link, fetched from this server')
    // The browser decodes the WAV: its duration is what was recorded.
    const duration = await audio.evaluate((el: AudioElement) => new Promise<number>((resolve, reject) => {
      if (el.readyState >= 1) resolve(el.duration)
      el.addEventListener('loadedmetadata', () => resolve(el.duration))
      el.addEventListener('error', () => reject(new Error(`audio error ${el.error?.code}: ${el.error?.message}`)))
    }))
    t.ok(Math.abs(duration - SECONDS) < 0.05, `audio plays ${duration} s`)
    const fetched = await page.evaluate(async (url) => {
      const res = await fetch(url!)
      return { status: res.status, type: res.headers.get('content-type'), bytes: Array.from(new Uint8Array(await res.arrayBuffer())) }
    }, src)
    const expected = wav(recorded.audio)
    t.equal(fetched.status, 200)
    t.equal(fetched.type, 'audio/wav')
    t.equal(fetched.bytes.length, expected.length, `${expected.length} bytes`)
    t.equal(createHash('sha256').update(Buffer.from(fetched.bytes)).digest('hex'), createHash('sha256').update(expected).digest('hex'), 'the decrypted recording, byte for byte')
    await shot('07-call-detail')

    await page.click('nav a[data-page=suppression]')
    await page.fill('input[name=number]', '+447700900777')
    await page.click('button:text-is("Check")')
    await page.waitForSelector('[data-testid=suppression-status][data-suppressed=false]')
    await page.fill('input[name=reason]', 'asked by letter')
    await page.click('button:text-is("Add")')
    await page.waitForSelector('[data-testid=suppression-status][data-suppressed=true]')
    await page.reload()
    await page.fill('input[name=number]', '+44 7700 900777')
    await page.click('button:text-is("Check")')
    await page.waitForSelector('[data-testid=suppression-status][data-suppressed=true]')
    t.match(await page.textContent('[data-testid=suppression-status]'), /\+447700900777 is suppressed since[\s\S]*api: asked by letter/, 'found again, written another way')

    await page.setInputFiles('input[name=csv]', { name: 'list.csv', mimeType: 'text/csv', buffer: Buffer.from('+447700900801\n+447700900802,from a letter\nnot a number\n+447700900777\n') })
    await page.click('.import button[type=submit]')
    await page.waitForSelector('[data-testid=import-result]')
    // The number added by hand gets an entry from the import too: each source is kept apart.
    t.equal(await page.textContent('[data-testid=import-result]'), '4 lines: 3 added, 0 already there, 1 invalid (lines 3).')
    const bar = page.locator('[data-testid=import-progress]')
    t.equal(await bar.getAttribute('value'), await bar.getAttribute('max'), 'the progress bar ends full')
    const imported = (await app.inject({ method: 'GET', url: '/api/suppressions?number=%2B447700900802', headers: { authorization: `Bearer ${controllerKey}` } })).json()
    t.equal(imported.suppressed, true, 'the imported number is on the list')
    await shot('08-suppression')

    await page.click('nav a[data-page=dsr]')
    await page.selectOption('select[name=type]', 'access')
    await page.fill('input[name=number]', CALLER)
    await page.click('text=Run request')
    await page.waitForSelector('article[data-dsr=access][data-status=completed]')
    const summary = JSON.parse(await page.textContent('article[data-dsr=access] [data-testid=dsr-summary]') ?? '')
    t.match(summary, { calls: 1, consents: 1, recordings: 1, suppressed: false })
    t.ok(summary.events > 0, 'the call\'s events are counted')
    await page.click('article[data-dsr=access] summary')
    t.match(await page.textContent('article[data-dsr=access] details pre'), new RegExp(recorded.callSid), 'the export names the call')
    await shot('09-dsr')

    await page.click('nav a[data-page=audit]')
    await page.waitForSelector('[data-testid=chain].ok')
    t.match(await page.textContent('[data-testid=chain]'), /Hash chain verified: \d+ entries, unbroken\./)
    for (const action of ['dsr.access', 'recording.fetch', 'recording.link', 'suppression.import', 'flow.publish']) {
      t.ok(await page.locator(`tr[data-action="${action}"]`).count() > 0, `the log shows ${action}`)
    }
    await shot('10-audit')
    await signOut()
  })

  t.test('controller: a webhook endpoint registered, its secret shown once, then deleted', async (t) => {
    const controller = { authorization: `Bearer ${controllerKey}` }
    // A public address as a literal: registration resolves no name, and no event is emitted here, so nothing connects to it.
    const HOOK = 'https://93.184.215.14/hook'
    const row = `tr[data-webhook="${HOOK}"]`
    await signIn(controllerKey, 'controller')
    await page.click('nav a[data-page=webhooks]')
    await page.waitForSelector('[data-testid=no-webhooks]')
    t.ok(await page.isDisabled('form[data-form=new-webhook] button[type=submit]'), 'no event picked: nothing to register')
    await page.fill('form[data-form=new-webhook] input[name=url]', HOOK)
    await page.check('form[data-form=new-webhook] input[name=events][value="dsr.completed"]')
    await page.check('form[data-form=new-webhook] input[name=events][value="call.completed"]')
    await page.fill('form[data-form=new-webhook] input[name=description]', 'CRM sync')
    await page.click('form[data-form=new-webhook] button[type=submit]')
    await page.waitForSelector('[data-testid=webhook-secret]')
    t.match(await page.textContent('[data-testid=webhook-secret]'), /Copy this signing secret now; it is not shown again/)
    const secret = await page.textContent('[data-testid=webhook-secret-value]')
    t.match(secret, /^whsec_\S+$/, 'the signing secret, in a code element')
    await page.waitForSelector(row)
    t.equal(await page.textContent(`${row} td:nth-child(2)`), 'call.completed, dsr.completed', 'the events, in the list\'s order')
    t.equal(await page.textContent(`${row} td:nth-child(3)`), 'CRM sync')
    t.equal(await page.textContent(`${row} td:nth-child(4)`), 'enabled')
    t.equal(await page.locator('[data-testid=webhooks-error]').count(), 0)
    const listed = (await app.inject({ method: 'GET', url: '/api/webhooks', headers: controller })).json() as Array<{ id: string, url: string, events: string[], description: string | null, enabled: boolean }>
    const endpoint = listed.find((w) => w.url === HOOK)
    t.match(endpoint, { events: ['call.completed', 'dsr.completed'], description: 'CRM sync', enabled: true }, 'registered at the server')
    t.notOk(JSON.stringify(listed).includes(secret!), 'the list never holds the secret')

    await page.click(`${row} button[data-action=deliveries]`)
    await page.waitForSelector(`[data-testid=webhook-deliveries][data-webhook="${HOOK}"] [data-testid=no-deliveries]`)
    await shot('15-webhooks')
    await page.reload()
    await page.waitForSelector(row)
    t.equal(await page.locator('[data-testid=webhook-secret]').count(), 0, 'the secret is not shown again')
    t.notOk((await page.content()).includes(secret!), 'nor anywhere on the page')

    let asked = ''
    page.once('dialog', (dialog) => { asked = dialog.message(); void dialog.accept() })
    await page.click(`${row} button[data-action=delete]`)
    await page.waitForSelector(row, { state: 'detached' })
    t.match(asked, HOOK, 'asked first')
    t.equal(await page.textContent('[data-testid=webhooks-message]'), `${HOOK} deleted.`)
    const left = (await app.inject({ method: 'GET', url: '/api/webhooks', headers: controller })).json() as Array<{ id: string }>
    t.notOk(left.some((w) => w.id === endpoint?.id), 'deleted at the server too')
    await signOut()
  })

  t.test('admin: a tenant picked, then its suppression list and audit log', async (t) => {
    const other = (await app.inject({ method: 'POST', url: '/api/tenants', headers: admin, payload: { name: 'Globex' } })).json().id as string
    await signIn(ADMIN_TOKEN, 'admin')
    await page.click('nav a[data-page=suppression]')
    await page.waitForSelector('[data-testid=pick-tenant]')
    t.equal(await page.locator('input[name=number]').count(), 0, 'no tenant page before a tenant is picked')
    const picker = page.locator('select[name=tenant]')
    await page.waitForSelector('select[name=tenant] option:text-is("Globex")', { state: 'attached' })
    t.same(await picker.locator('option').allTextContents(), ['— pick one —', 'Acme', 'Globex'])
    await picker.selectOption({ label: 'Acme' })
    t.equal(await picker.inputValue(), tenantId)
    // The controller added this number in Acme's list above: found, so the request named Acme.
    await page.fill('input[name=number]', '+447700900777')
    await page.click('button:text-is("Check")')
    await page.waitForSelector('[data-testid=suppression-status][data-suppressed=true]')
    await shot('11-admin-tenant-picked')
    await picker.selectOption({ label: 'Globex' })
    await page.fill('input[name=number]', '+447700900777')
    await page.click('button:text-is("Check")')
    await page.waitForSelector('[data-testid=suppression-status][data-suppressed=false]')
    t.pass('Globex does not have Acme\'s suppression')

    await page.reload()
    await page.click('nav a[data-page=audit]')
    await page.waitForSelector('[data-testid=chain].ok')
    t.equal(await picker.inputValue(), other, 'the pick lasts the tab\'s session')
    t.ok(await page.locator('tr[data-action="tenant.create"]').count() > 0, 'Globex\'s own log')
    t.equal(await page.locator('tr[data-action="suppression.add"]').count(), 0, 'and none of Acme\'s entries')
    await picker.selectOption({ label: 'Acme' })
    await page.waitForSelector('tr[data-action="suppression.add"]')
    t.equal(await page.locator('[role=alert]').count(), 0, 'no page said a tenant is required')
    await signOut()
  })

  t.test('ops: a number bound and unbound; an outbound campaign set, its contacts imported and previewed, a start refused', async (t) => {
    const ops = { authorization: `Bearer ${opsKey}` }
    const SECOND = '+442079460019'
    await signIn(opsKey, 'ops')

    await page.click('nav a[data-page=numbers]')
    await page.waitForSelector(`tr[data-number="${NUMBER}"]`)
    t.equal(await page.textContent(`tr[data-number="${NUMBER}"] td:nth-child(2)`), 'A', 'the harness\'s number, in its campaign')
    t.equal(await page.textContent(`tr[data-number="${NUMBER}"] td:nth-child(3)`), 'R', 'and its flow, by name')
    // Bound already: the server's 409 is shown as it says it.
    await page.fill('form[data-form=bind-number] input[name=number]', NUMBER)
    await page.click('form[data-form=bind-number] button[type=submit]')
    await page.waitForSelector('[data-testid=numbers-error]')
    t.match(await page.textContent('[data-testid=numbers-error]'), /already bound in this tenant/)
    await page.fill('form[data-form=bind-number] input[name=number]', SECOND)
    await page.selectOption('form[data-form=bind-number] select[name=campaignId]', campaign.id)
    await page.selectOption('form[data-form=bind-number] select[name=flowId]', { label: 'R' })
    await page.click('form[data-form=bind-number] button[type=submit]')
    await page.waitForSelector(`tr[data-number="${SECOND}"]`)
    t.equal(await page.textContent('[data-testid=numbers-message]'), `${SECOND} bound.`)
    t.equal(await page.locator('[data-testid=numbers-error]').count(), 0, 'the earlier error is gone')
    t.equal(await page.textContent(`tr[data-number="${SECOND}"] td:nth-child(2)`), 'A')
    t.equal(await page.textContent(`tr[data-number="${SECOND}"] td:nth-child(3)`), 'R')
    const listed = (await app.inject({ method: 'GET', url: '/api/numbers', headers: ops })).json() as Array<{ id: string, number: string, campaignId: string, flowId: string }>
    const second = listed.find((n) => n.number === SECOND)
    t.equal(second?.campaignId, campaign.id, 'the server has the number bound to the campaign')
    t.equal(second?.flowId, listed.find((n) => n.number === NUMBER)?.flowId, 'to the flow picked')
    await shot('13-numbers')
    await page.click(`tr[data-number="${SECOND}"] button:text-is("Unbind")`)
    await page.waitForSelector(`tr[data-number="${SECOND}"]`, { state: 'detached' })
    t.equal(await page.textContent('[data-testid=numbers-message]'), `${SECOND} unbound.`)
    const left = (await app.inject({ method: 'GET', url: '/api/numbers', headers: ops })).json() as Array<{ number: string }>
    t.same(left.map((n) => n.number), [NUMBER], 'unbound at the server too')

    // The campaign's outbound flow, saved and published through the API.
    const outbound = JSON.parse(readFileSync(new URL('../../examples/outbound-flow.json', import.meta.url), 'utf8'))
    const flowRes = await app.inject({ method: 'POST', url: '/api/flows', headers: ops, payload: { name: 'Outbound', campaignId: campaign.id } })
    t.equal(flowRes.statusCode, 201)
    const flowId = flowRes.json().id as string
    t.equal((await app.inject({ method: 'POST', url: `/api/flows/${flowId}/versions`, headers: ops, payload: { definition: outbound } })).statusCode, 201)
    t.equal((await app.inject({ method: 'POST', url: `/api/flows/${flowId}/versions/1/publish`, headers: ops })).statusCode, 200)

    await page.click('nav a[data-page=outbound]')
    await page.click(`a[href="#/outbound/${campaign.id}"]`)
    await page.waitForSelector('[data-testid=no-dialler]')
    await page.waitForSelector(`form[data-form=dialler] select[name=flowId] option[value="${flowId}"]`, { state: 'attached' })
    await page.waitForSelector('[data-testid=dialler-state]')
    t.equal(await page.textContent('[data-testid=dialler-state]'), 'idle')
    t.ok(await page.isDisabled('button[data-action=start]'), 'no start without settings')
    // The inbound flow lets nobody refuse before the after-hours transfer: the server says where.
    await page.selectOption('form[data-form=dialler] select[name=flowId]', { label: 'R (v1 live)' })
    await page.click('text=Save dialler settings')
    await page.waitForSelector('[data-testid=dialler-settings-error]')
    t.match(await page.textContent('[data-testid=dialler-settings-error]'), /body\/dialler\/flowId.*outbound call without a way to refuse/)

    await page.selectOption('form[data-form=dialler] select[name=flowId]', flowId)
    await page.selectOption('form[data-form=dialler] select[name=callerId]', NUMBER)
    await page.selectOption('form[data-form=dialler] select[name=machineDetection]', 'message-end')
    for (const [name, value] of [['maxConcurrent', '2'], ['callsPerMinute', '12'], ['maxAttempts', '4'], ['abandonLimitPercent', '2.5'], ['retry-busy', '600'], ['retry-noAnswer', '1800'], ['retry-failed', '1200'], ['retry-machine', '7200']]) {
      await page.fill(`form[data-form=dialler] input[name=${name}]`, value!)
    }
    await page.click('text=Save dialler settings')
    await page.waitForSelector('[data-testid=dialler-saved]')
    t.equal(await page.locator('[data-testid=dialler-settings-error]').count(), 0)
    const saved = (await app.inject({ method: 'GET', url: `/api/campaigns/${campaign.id}`, headers: ops })).json()
    t.same(saved.dialler, {
      flowId,
      callerId: NUMBER,
      maxConcurrent: 2,
      callsPerMinute: 12,
      maxAttempts: 4,
      retryAfterSeconds: { busy: 600, noAnswer: 1800, failed: 1200, machine: 7200 },
      machineDetection: 'message-end',
      abandonLimitPercent: 2.5
    }, 'the settings as typed, at the server')

    // +447700900777 is on the suppression list (the controller's section); one line is no number; one repeats a number written another way.
    const csv = join(tempDir(t, 'callgate-contacts-'), 'contacts.csv')
    writeFileSync(csv, 'number,reference\n07700 900901,lead-1\n+447700900902,lead-2\n+447700900777,lead-3\nnot a number,lead-4\n+44 7700 900902,lead-5\n')
    await page.setInputFiles('input[name=contacts-csv]', csv)
    await page.click('form[data-form=contacts-import] button[type=submit]')
    await page.waitForSelector('[data-testid=contacts-import-result]')
    t.equal(await page.textContent('[data-testid=contacts-import-result]'), '6 lines: 3 added, 1 duplicate, 1 invalid (lines 5).')
    const bar = page.locator('[data-testid=contacts-import-progress]')
    t.equal(await bar.getAttribute('value'), await bar.getAttribute('max'), 'the progress bar ends full')

    // Tuesday 10:00 in London (the test's clock), inside the campaign's hours.
    await page.click('button:text-is("Preview")')
    await page.waitForSelector('[data-testid=preview]')
    t.equal(await page.textContent('[data-testid=callable-now]'), '2', 'two callable now')
    t.match(await page.textContent('[data-testid=preview]'), /2 of 3 contacts still to call could be called now/)
    const skipped = async (reason: string) => await page.textContent(`[data-testid=preview] tr[data-skip=${reason}] td:nth-child(2)`)
    t.equal(await skipped('suppressed'), '1', 'the suppressed number would be skipped')
    for (const reason of ['registry', 'restricted', 'cap', 'outsideWindow']) t.equal(await skipped(reason), '0', `none skipped: ${reason}`)
    t.match(await page.textContent('[data-testid=window-opens]'), /The calling window opens /)

    await page.waitForSelector('[data-testid=dialler] tr[data-count=pending] td:nth-child(2):text-is("3")')
    t.notOk(await page.isDisabled('button[data-action=start]'), 'start offered once the settings are saved')
    t.ok(await page.isDisabled('button[data-action=pause]'), 'an idle dialler cannot pause')
    t.ok(await page.isDisabled('button[data-action=resume]'))
    t.ok(await page.isDisabled('button[data-action=stop]'))
    await page.click('button[data-action=start]')
    await page.waitForSelector('[data-testid=dialler-error]')
    t.match(await page.textContent('[data-testid=dialler-error]'), /TWILIO_ACCOUNT_SID/, 'no Twilio account: the 409 is shown')
    t.equal(await page.textContent('[data-testid=dialler-state]'), 'idle', 'and the dialler stays idle')
    t.equal((await app.inject({ method: 'GET', url: `/api/campaigns/${campaign.id}/dialler`, headers: ops })).json().state, 'idle')

    await page.waitForSelector('tr[data-contact="+447700900901"]')
    t.same(await page.locator('table[data-testid=contacts] tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-contact')).sort()),
      ['+447700900777', '+447700900901', '+447700900902'], 'the three contacts, numbers in clear')
    t.match(await page.textContent('tr[data-contact="+447700900901"]'), /lead-1\s*pending/)
    await page.selectOption('select[name=contact-status]', 'completed')
    await page.waitForSelector('tr[data-contact]', { state: 'detached' })
    t.equal(await page.textContent('[data-testid=no-contacts]'), 'No contacts completed.')
    await page.selectOption('select[name=contact-status]', '')
    await page.waitForSelector('tr[data-contact="+447700900901"]')
    await shot('14-outbound')
    await signOut()
  })

  t.test('agent: no controller pages', async (t) => {
    await signIn(agentKey, 'agent')
    t.same(await nav(), ['calls', 'suppression'])
    await page.goto(`${base}/console#/dsr`)
    await page.waitForSelector('main[data-page]')
    t.equal(await page.getAttribute('main', 'data-page'), 'calls', 'a controller page by its address shows the agent\'s own first page')
    t.equal(await page.locator('text=Get a listening link').count(), 0)
    await shot('12-agent')
  })

  t.test('the key never travels in a URL; the page loads nothing from elsewhere', async (t) => {
    for (const k of [opsKey, controllerKey, agentKey, ADMIN_TOKEN]) t.notOk(urls.some((u) => u.includes(k)), 'no request URL holds a key')
    t.same(urls.filter((u) => !u.startsWith(base) && !u.startsWith('data:') && !u.startsWith('blob:')), [], 'every request went to this server')
    t.same(pageErrors, [], 'no script errors')
    t.same(await page.evaluate('window.__cspViolations'), [], 'nothing the content security policy had to block')
    const headers = (await page.goto(`${base}/console`))!.headers()
    t.match(headers['content-security-policy'], /default-src 'self'/)
  })
})
