// The dialler in two server processes on one PostgreSQL: the campaign's limits hold for both
// together, and a process killed with SIGKILL in the middle of a run dials nobody twice.
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import t from 'tap'
import { fakeKms } from '../fake-kms.js'
import { fakeTwilioApi } from '../fake-twilio-api.js'
import { eventually } from '../harness/eventually.js'
import { ACCOUNT_SID, twilioCallees, type CalleeScript } from '../harness/twilio-callee.js'
import { httpPost, NUMBER, type TwilioTransport } from '../harness/twilio-caller.js'
import { freshPostgresUrl, PUBLIC_URL, TWILIO_TOKEN } from '../helper.js'
import { api, provision } from './api-client.js'
import { installationEnv, serverProcess, startS3, type ServerProcess } from './cluster.js'

const skip = process.env.DATABASE_URL === undefined || process.env.DATABASE_URL === '' ? 'several processes need PostgreSQL: set DATABASE_URL' : false
const outboundFlow = JSON.parse(readFileSync(new URL('../../examples/outbound-flow.json', import.meta.url), 'utf8'))
const sleep = async (ms: number) => await new Promise((resolve) => setTimeout(resolve, ms))
const N = (i: number) => `+4477009${String(i).padStart(5, '0')}`

/** Twilio's requests go to a live process, alternating, as a load balancer sends them. */
function balancer (processes: ServerProcess[], down: Set<ServerProcess>): TwilioTransport {
  let turn = 0
  return {
    publicUrl: PUBLIC_URL,
    post: async (path, params, headers = {}) => {
      const live = processes.filter((p) => !down.has(p))
      const target = live[turn++ % live.length]!
      return await httpPost(target.url, path, params, { headers })
    }
  }
}

t.test('two processes dial one campaign', { skip }, async (t) => {
  let holdFor: () => Promise<unknown> = async () => await sleep(0)
  const transports: TwilioTransport[] = []
  const callees = twilioCallees(transports, (): CalleeScript => ({ status: 'completed', answeredBy: 'human', digits: ['2', '1'], hold: holdFor() }))
  const twilio = await fakeTwilioApi(t, { auth: { accountSid: ACCOUNT_SID, authToken: TWILIO_TOKEN }, placed: callees.placed })
  const [kms, s3, databaseUrl] = await Promise.all([fakeKms(t), startS3(t), freshPostgresUrl(t)])
  const shared = {
    ...installationEnv({ databaseUrl: databaseUrl!, s3, kmsEndpoint: kms.endpoint, numberHashKey: randomBytes(32).toString('base64url') }),
    TWILIO_ACCOUNT_SID: ACCOUNT_SID,
    TWILIO_API_URL: twilio.url,
    DIALLER_INTERVAL_MS: '100'
  }
  const a = serverProcess(t, shared)
  const b = serverProcess(t, shared)
  await Promise.all([a.start(), b.start()])
  const down = new Set<ServerProcess>()
  transports.push(balancer([a, b], down))
  const { tenantId, campaignId } = await provision(a.url)
  const ops = (await api<{ apiKey: string }>(a.url, 'POST', '/api/users', { tenantId, role: 'ops', name: 'O', email: 'o@acme.test' })).json.apiKey
  const flowId = (await api<{ id: string }>(a.url, 'POST', '/api/flows', { name: 'Outbound', campaignId }, ops)).json.id
  t.equal((await api(a.url, 'POST', `/api/flows/${flowId}/versions`, { definition: outboundFlow }, ops)).status, 201)
  t.equal((await api(a.url, 'POST', `/api/flows/${flowId}/versions/1/publish`, undefined, ops)).status, 200)
  const dialler = (over: Record<string, unknown>) => api(b.url, 'PATCH', `/api/campaigns/${campaignId}`, {
    dialler: { flowId, callerId: NUMBER, maxConcurrent: 3, callsPerMinute: 6000, maxAttempts: 3, retryAfterSeconds: { busy: 60, noAnswer: 60, failed: 60, machine: 60 }, machineDetection: 'off', abandonLimitPercent: 50, ...over }
  }, ops)
  const load = async (numbers: string[]) => {
    const res = await fetch(`${a.url}/api/campaigns/${campaignId}/contacts?country=GB`, { method: 'POST', headers: { authorization: `Bearer ${ops}`, 'content-type': 'text/csv' }, body: numbers.join('\n') + '\n' })
    t.equal(res.status, 200, 'contacts imported')
  }
  const status = async () => (await api<{ state: string, inFlight: number, contacts: { pending: number, scheduled: number, dialling: number, completed: number } }>(b.url, 'GET', `/api/campaigns/${campaignId}/dialler`, undefined, ops)).json
  const act = async (action: string) => (await api(b.url, 'POST', `/api/campaigns/${campaignId}/dialler`, { action }, ops)).status

  await t.test('callsPerMinute holds over both processes', async (t) => {
    const before = callees.calls.length
    t.equal((await dialler({ maxConcurrent: 20, callsPerMinute: 7 })).status, 200)
    await load(Array.from({ length: 20 }, (_, i) => N(200 + i)))
    t.equal(await act('start'), 200)
    await sleep(4_000)
    t.equal(await act('stop'), 200)
    await callees.settled()
    t.equal(callees.calls.length - before, 7, 'seven in the first minute, from both processes together')
    t.equal((await status()).contacts.pending, 13)
  })

  await t.test('maxConcurrent holds over both processes', async (t) => {
    const before = callees.calls.length
    await callees.settled()
    callees.resetMaxLive()
    t.equal((await dialler({ maxConcurrent: 3 })).status, 200)
    await load(Array.from({ length: 24 }, (_, i) => N(100 + i)))
    // Each call lasts 300 ms: with turns every 100 ms in two processes, more would go out at once if the count were per process.
    holdFor = async () => await sleep(300)
    t.equal(await act('start'), 200)
    await eventually('the run completed', async () => (await status()).state === 'completed', { timeoutMs: 60_000 })
    await callees.settled()
    t.same(callees.failures, [])
    const dialled = callees.calls.slice(before).map((c) => c.to)
    t.equal(dialled.length, 24 + 13, 'every contact called, those left by the stop too')
    t.equal(new Set(dialled).size, dialled.length, 'each once')
    t.ok(callees.maxLive <= 3, `at most 3 calls up at once (saw ${callees.maxLive})`)
    t.ok(callees.maxLive >= 2, 'calls overlapped')
  })

  await t.test('a process killed in the middle of a run dials nobody twice', async (t) => {
    const before = callees.calls.length
    t.equal((await dialler({ maxConcurrent: 4, callsPerMinute: 6000 })).status, 200)
    let release!: () => void
    const held = new Promise<void>((resolve) => { release = resolve })
    holdFor = async () => await held
    await load(Array.from({ length: 16 }, (_, i) => N(300 + i)))
    t.equal(await act('start'), 200)
    await eventually('calls in flight', () => callees.calls.length - before >= 4)
    down.add(a)
    await a.kill('SIGKILL')
    release()
    const left = await eventually('B went on alone', async () => {
      const s = await status()
      return s.contacts.pending === 0 && s.contacts.scheduled === 0 ? s : false
    }, { timeoutMs: 60_000 })
    await callees.settled()
    const dialled = callees.calls.slice(before).map((c) => c.to)
    t.equal(new Set(dialled).size, dialled.length, `no number dialled twice (${dialled.length} calls)`)
    const end = await status()
    // A's attempts written but never placed stay in flight until their timeout settles them.
    t.equal(end.contacts.completed + end.contacts.dialling, 20 + 24 + 16, 'every contact reached, or held by an attempt of the killed process')
    t.ok(dialled.length + left.contacts.dialling >= 16, 'the contacts A left were dialled by B')
  })
})
