import { useEffect, useRef, useState } from 'preact/hooks'
import { api, query, type Campaign, type Flow } from '../api.js'
import { UploadProgress, useCsvUpload } from '../csv-upload.js'
import type { PageProps } from '../pages.js'

// The API's shapes (README, "Outbound campaigns").
type MachineDetection = 'off' | 'detect' | 'message-end'
interface Retries { busy: number, noAnswer: number, failed: number, machine: number }
interface Dialler {
  flowId: string
  callerId: string
  maxConcurrent: number
  callsPerMinute: number
  maxAttempts: number
  retryAfterSeconds: Retries
  machineDetection: MachineDetection
  abandonLimitPercent: number
}
interface OutboundCampaign extends Campaign { dialler: Dialler | null }
interface BoundNumber { id: string, tenantId: string, number: string, campaignId: string, flowId: string, createdAt: string }
interface ImportResult { lines: number, added: number, duplicates: number, invalid: number, invalidLines: number[] }
interface Skipped { suppressed: number, registry: number, restricted: number, cap: number, outsideWindow: number }
interface Preview { contacts: number, callableNow: number, skipped: Skipped, windowOpensAt: string | null }
type DiallerState = 'idle' | 'running' | 'paused' | 'completed' | 'stopped'
type ContactStatus = 'pending' | 'scheduled' | 'dialling' | 'completed' | 'exhausted' | 'suppressed'
type Outcome = 'human' | 'machine' | 'busy' | 'noAnswer' | 'failed' | 'abandoned' | 'optedOut'
interface DiallerStatus {
  state: DiallerState
  reason: string | null
  inFlight: number
  contacts: Record<ContactStatus, number>
  outcomes: Record<Outcome, number>
  abandonRate24h: number
}
interface Contact { id: string, number: string, reference: string | null, status: ContactStatus, attempts: number, lastOutcome: string | null, nextAttemptAt: string | null }
interface ContactPage { contacts: Contact[], nextCursor: string | null }
type Action = 'start' | 'pause' | 'resume' | 'stop'

const CONTACT_STATUSES: ContactStatus[] = ['pending', 'scheduled', 'dialling', 'completed', 'exhausted', 'suppressed']
const OUTCOMES: Outcome[] = ['human', 'machine', 'busy', 'noAnswer', 'failed', 'abandoned', 'optedOut']
const RETRIES: Array<keyof Retries> = ['busy', 'noAnswer', 'failed', 'machine']
const SKIPS: Array<[keyof Skipped, string]> = [['suppressed', 'suppressed'], ['registry', 'on a national register'], ['restricted', 'restricted (a data-subject request)'], ['cap', 'at the campaign\'s call cap'], ['outsideWindow', 'outside the calling window']]
/** The states each action moves the dialler from (the server says so too, with a 409). */
const ACTIONS: Array<[Action, string, DiallerState[]]> = [
  ['start', 'Start', ['idle', 'stopped', 'completed']],
  ['pause', 'Pause', ['running']],
  ['resume', 'Resume', ['paused']],
  ['stop', 'Stop', ['running', 'paused']]
]
const REFRESH_MS = 3000
const PAGE_SIZE = 50

/** The README's example settings: a starting point for a campaign that has none. */
const DEFAULTS: Omit<Dialler, 'flowId' | 'callerId'> = {
  maxConcurrent: 10,
  callsPerMinute: 30,
  maxAttempts: 3,
  retryAfterSeconds: { busy: 900, noAnswer: 3600, failed: 3600, machine: 14400 },
  machineDetection: 'detect',
  abandonLimitPercent: 3
}

const when = (iso: string | null) => iso === null ? '—' : new Date(iso).toLocaleString()

export function OutboundPage ({ me, route }: PageProps) {
  const [campaigns, setCampaigns] = useState<Campaign[]>([])
  const [error, setError] = useState<string | null>(null)
  useEffect(() => { api<Campaign[]>('GET', '/campaigns').then(setCampaigns, (e: Error) => setError(e.message)) }, [])
  const id = route[0]
  const canEdit = me.role === 'ops' || me.role === 'admin'
  return (
    <section class='outbound'>
      <h2>Outbound</h2>
      <ul class='tabs'>
        {campaigns.map((c) => <li key={c.id}><a href={`#/outbound/${c.id}`} class={c.id === id ? 'active' : ''}>{c.name}</a></li>)}
      </ul>
      {error !== null && <p class='error' role='alert'>{error}</p>}
      {id === undefined
        ? <p class='muted'>Choose a campaign to dial.</p>
        : <CampaignDialler key={id} id={id} canEdit={canEdit} />}
    </section>
  )
}

function CampaignDialler ({ id, canEdit }: { id: string, canEdit: boolean }) {
  const [campaign, setCampaign] = useState<OutboundCampaign | null>(null)
  const [flows, setFlows] = useState<Flow[]>([])
  const [numbers, setNumbers] = useState<BoundNumber[]>([])
  const [error, setError] = useState<string | null>(null)
  // Bumped after an import: the contact list and the status read again.
  const [imported, setImported] = useState(0)
  const loadCampaign = () => api<OutboundCampaign>('GET', `/campaigns/${id}`).then(setCampaign, (e: Error) => setError(e.message))
  useEffect(() => {
    loadCampaign()
    api<Flow[]>('GET', '/flows').then((all) => setFlows(all.filter((f) => f.campaignId === id)), (e: Error) => setError(e.message))
    // Numbers are ops' business (GET /numbers): a controller sees the caller ID as saved.
    if (canEdit) api<BoundNumber[]>('GET', '/numbers').then((all) => setNumbers(all.filter((n) => n.campaignId === id)), (e: Error) => setError(e.message))
  }, [id])
  if (campaign === null) return <p class='muted'>{error ?? 'Loading…'}</p>
  return (
    <div>
      <h3>{campaign.name}</h3>
      {error !== null && <p class='error' role='alert'>{error}</p>}
      <DiallerSettings key={campaign.id} campaign={campaign} flows={flows} numbers={numbers} readOnly={!canEdit} onSaved={setCampaign} />
      {canEdit && <ContactImport campaignId={id} onImported={() => setImported((n) => n + 1)} />}
      {canEdit && <PreviewPanel campaignId={id} />}
      <DiallerControl campaignId={id} canControl={canEdit} configured={campaign.dialler !== null} refreshKey={imported} />
      <ContactList campaignId={id} refreshKey={imported} />
    </div>
  )
}

/** Number fields as typed (a field mid-edit may be empty), turned into numbers on saving. */
type Form = { flowId: string, callerId: string, machineDetection: MachineDetection } & Record<'maxConcurrent' | 'callsPerMinute' | 'maxAttempts' | 'abandonLimitPercent' | `retry-${keyof Retries}`, string>

function formOf (d: Dialler | null, flows: Flow[], numbers: BoundNumber[]): Form {
  const s = d ?? { ...DEFAULTS, flowId: flows[0]?.id ?? '', callerId: numbers[0]?.number ?? '' }
  return {
    flowId: s.flowId,
    callerId: s.callerId,
    machineDetection: s.machineDetection,
    maxConcurrent: String(s.maxConcurrent),
    callsPerMinute: String(s.callsPerMinute),
    maxAttempts: String(s.maxAttempts),
    abandonLimitPercent: String(s.abandonLimitPercent),
    'retry-busy': String(s.retryAfterSeconds.busy),
    'retry-noAnswer': String(s.retryAfterSeconds.noAnswer),
    'retry-failed': String(s.retryAfterSeconds.failed),
    'retry-machine': String(s.retryAfterSeconds.machine)
  }
}

function DiallerSettings ({ campaign, flows, numbers, readOnly, onSaved }: { campaign: OutboundCampaign, flows: Flow[], numbers: BoundNumber[], readOnly: boolean, onSaved: (c: OutboundCampaign) => void }) {
  const [form, setForm] = useState<Form>(() => formOf(campaign.dialler, flows, numbers))
  const [message, setMessage] = useState<string | null>(null)
  const [error, setError] = useState<string | null>(null)
  // Flows and numbers arrive after the campaign: a campaign without settings starts from the first of each.
  useEffect(() => {
    if (campaign.dialler !== null) return
    setForm((f) => ({ ...f, flowId: f.flowId !== '' ? f.flowId : flows[0]?.id ?? '', callerId: f.callerId !== '' ? f.callerId : numbers[0]?.number ?? '' }))
  }, [flows, numbers])
  const set = (k: keyof Form) => (e: { currentTarget: HTMLInputElement | HTMLSelectElement }) => setForm({ ...form, [k]: e.currentTarget.value })
  const save = async (e: Event) => {
    e.preventDefault()
    setMessage(null); setError(null)
    const dialler: Dialler = {
      flowId: form.flowId,
      callerId: form.callerId,
      maxConcurrent: Number(form.maxConcurrent),
      callsPerMinute: Number(form.callsPerMinute),
      maxAttempts: Number(form.maxAttempts),
      retryAfterSeconds: { busy: Number(form['retry-busy']), noAnswer: Number(form['retry-noAnswer']), failed: Number(form['retry-failed']), machine: Number(form['retry-machine']) },
      machineDetection: form.machineDetection,
      abandonLimitPercent: Number(form.abandonLimitPercent)
    }
    try {
      onSaved(await api<OutboundCampaign>('PATCH', `/campaigns/${campaign.id}`, { dialler }))
      setMessage('Dialler settings saved.')
    } catch (err) { setError((err as Error).message) }
  }
  // The saved caller ID stays listed even when it is not (or no longer, or not visibly) bound.
  const callerIds = [...new Set([...numbers.map((n) => n.number), ...(form.callerId !== '' ? [form.callerId] : [])])]
  const flowName = (f: Flow) => `${f.name}${f.publishedVersion === null ? ' (not published)' : ` (v${f.publishedVersion} live)`}`
  return (
    <form class='panel' data-form='dialler' onSubmit={save}>
      <h3>Dialler settings</h3>
      {campaign.dialler === null && <p class='muted' data-testid='no-dialler'>Not set yet: the dialler cannot start until these are saved.</p>}
      <fieldset disabled={readOnly}>
        <div class='row'>
          <label>Flow{' '}
            <select name='flowId' value={form.flowId} onChange={set('flowId')}>
              {form.flowId === '' && <option value=''>— pick one —</option>}
              {flows.map((f) => <option key={f.id} value={f.id}>{flowName(f)}</option>)}
            </select>
          </label>
          <label>Caller ID{' '}
            <select name='callerId' value={form.callerId} onChange={set('callerId')}>
              {form.callerId === '' && <option value=''>{numbers.length === 0 ? '— no number bound —' : '— pick one —'}</option>}
              {callerIds.map((n) => <option key={n} value={n}>{n}</option>)}
            </select>
          </label>
          <label>Machine detection{' '}
            <select name='machineDetection' value={form.machineDetection} onChange={set('machineDetection')}>
              <option value='off'>off</option>
              <option value='detect'>detect</option>
              <option value='message-end'>wait for the message end</option>
            </select>
          </label>
        </div>
        <div class='row'>
          <label>Calls at once <input type='number' name='maxConcurrent' required min={1} max={1000} value={form.maxConcurrent} onInput={set('maxConcurrent')} /></label>
          <label>Calls a minute <input type='number' name='callsPerMinute' required min={1} max={60000} value={form.callsPerMinute} onInput={set('callsPerMinute')} /></label>
          <label>Attempts per contact <input type='number' name='maxAttempts' required min={1} max={20} value={form.maxAttempts} onInput={set('maxAttempts')} /></label>
          <label>Abandon limit (%) <input type='number' name='abandonLimitPercent' required min={0} max={100} step='any' value={form.abandonLimitPercent} onInput={set('abandonLimitPercent')} /></label>
        </div>
        <div class='row'>
          <h4>Retry after (seconds)</h4>
          {RETRIES.map((k) => <label key={k}>{k} <input type='number' name={`retry-${k}`} required min={1} step='any' value={form[`retry-${k}`]} onInput={set(`retry-${k}`)} /></label>)}
        </div>
        {!readOnly && <button type='submit'>Save dialler settings</button>}
      </fieldset>
      {message !== null && <p class='ok' role='status' data-testid='dialler-saved'>{message}</p>}
      {error !== null && <p class='error' role='alert' data-testid='dialler-settings-error'>{error}</p>}
    </form>
  )
}

function ContactImport ({ campaignId, onImported }: { campaignId: string, onImported: () => void }) {
  const { file, setFile, progress, result, error, send } = useCsvUpload<ImportResult>()
  const [country, setCountry] = useState('GB')
  const start = async (e: Event) => {
    e.preventDefault()
    if (await send(`/campaigns/${campaignId}/contacts` + query({ country: country.trim().toUpperCase() })) !== null) onImported()
  }
  return (
    <form class='import' data-form='contacts-import' onSubmit={start}>
      <h3>Import contacts</h3>
      <p class='muted'>A CSV with number[,reference[,timezone]] a line (a header row is recognised). National numbers are read in the country below.</p>
      <div class='row'>
        <input type='file' name='contacts-csv' accept='.csv,text/csv' onChange={(e) => setFile(e.currentTarget.files?.[0] ?? null)} />
        <label>Country <input name='country' class='short' maxLength={2} value={country} onInput={(e) => setCountry(e.currentTarget.value)} /></label>
        <button type='submit' disabled={file === null}>Import</button>
      </div>
      <UploadProgress progress={progress} testId='contacts-import-progress' />
      {result !== null && (
        <p data-testid='contacts-import-result'>
          {result.lines} lines: {result.added} added, {result.duplicates} duplicate{result.duplicates === 1 ? '' : 's'}, {result.invalid} invalid{result.invalid > 0 ? ` (lines ${result.invalidLines.slice(0, 20).join(', ')}${result.invalidLines.length > 20 ? ', …' : ''})` : ''}.
        </p>
      )}
      {error !== null && <p class='error' role='alert'>{error}</p>}
    </form>
  )
}

function PreviewPanel ({ campaignId }: { campaignId: string }) {
  const [preview, setPreview] = useState<Preview | null>(null)
  const [error, setError] = useState<string | null>(null)
  const load = async () => {
    setError(null)
    try { setPreview(await api<Preview>('GET', `/campaigns/${campaignId}/preview`)) } catch (err) { setError((err as Error).message) }
  }
  return (
    <div class='panel'>
      <h3>Before launch</h3>
      <button type='button' onClick={load}>Preview</button>
      {error !== null && <p class='error' role='alert'>{error}</p>}
      {preview !== null && (
        <div data-testid='preview'>
          <p><strong data-testid='callable-now'>{preview.callableNow}</strong> of {preview.contacts} contacts still to call could be called now.</p>
          <table class='list counts'>
            <thead><tr><th>Skipped now</th><th>Contacts</th></tr></thead>
            <tbody>{SKIPS.map(([k, label]) => <tr key={k} data-skip={k}><td>{label}</td><td>{preview.skipped[k]}</td></tr>)}</tbody>
          </table>
          <p data-testid='window-opens'>
            {preview.windowOpensAt === null
              ? 'The calling window opens for none of them in the next 8 days (or the campaign has ended).'
              : `The calling window opens ${new Date(preview.windowOpensAt).toLocaleString()}.`}
          </p>
        </div>
      )}
    </div>
  )
}

function DiallerControl ({ campaignId, canControl, configured, refreshKey }: { campaignId: string, canControl: boolean, configured: boolean, refreshKey: number }) {
  const [status, setStatus] = useState<DiallerStatus | null>(null)
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<string | null>(null)
  const alive = useRef(true)
  useEffect(() => () => { alive.current = false }, [])
  const refresh = () => api<DiallerStatus>('GET', `/campaigns/${campaignId}/dialler`)
    .then((s) => { if (alive.current) setStatus(s) }, (e: Error) => { if (alive.current) setError(e.message) })
  useEffect(() => { refresh() }, [campaignId, refreshKey])
  // A running dialler is read again every few seconds, and no longer once the page is left.
  const state = status?.state
  useEffect(() => {
    if (state !== 'running') return
    const timer = setInterval(refresh, REFRESH_MS)
    return () => clearInterval(timer)
  }, [campaignId, state])
  const act = async (action: Action) => {
    setError(null); setBusy(true)
    try { setStatus(await api<DiallerStatus>('POST', `/campaigns/${campaignId}/dialler`, { action })) } catch (err) { setError((err as Error).message) } finally { setBusy(false) }
  }
  return (
    <div class='panel' data-testid='dialler'>
      <h3>Dialler</h3>
      {canControl && (
        <div class='row'>
          {ACTIONS.map(([action, label, from]) => (
            <button key={action} type='button' data-action={action} disabled={busy || status === null || !from.includes(status.state) || (action === 'start' && !configured)} onClick={() => act(action)}>{label}</button>
          ))}
        </div>
      )}
      {error !== null && <p class='error' role='alert' data-testid='dialler-error'>{error}</p>}
      {status === null
        ? <p class='muted'>Loading…</p>
        : (
          <div>
            <p>
              State <strong class={`state ${status.state}`} data-testid='dialler-state'>{status.state}</strong>
              {status.reason !== null && <span data-testid='dialler-reason'> ({status.reason})</span>}
              {' · '}In flight <strong data-testid='in-flight'>{status.inFlight}</strong>
              {' · '}Abandoned (24 h) <strong data-testid='abandon-rate'>{status.abandonRate24h.toFixed(1)}%</strong>
              {status.state === 'running' && <span class='muted'> · refreshed every {REFRESH_MS / 1000} s</span>}
            </p>
            <div class='counts-grid'>
              <table class='list counts' data-testid='contact-counts'>
                <thead><tr><th>Contacts</th><th /></tr></thead>
                <tbody>{CONTACT_STATUSES.map((s) => <tr key={s} data-count={s}><td>{s}</td><td>{status.contacts[s]}</td></tr>)}</tbody>
              </table>
              <table class='list counts' data-testid='outcome-counts'>
                <thead><tr><th>Outcomes</th><th /></tr></thead>
                <tbody>{OUTCOMES.map((o) => <tr key={o} data-count={o}><td>{o}</td><td>{status.outcomes[o]}</td></tr>)}</tbody>
              </table>
            </div>
          </div>
          )}
    </div>
  )
}

function ContactList ({ campaignId, refreshKey }: { campaignId: string, refreshKey: number }) {
  const [status, setStatus] = useState<ContactStatus | ''>('')
  const [contacts, setContacts] = useState<Contact[]>([])
  const [cursors, setCursors] = useState<Array<string | undefined>>([undefined])
  const [next, setNext] = useState<string | null>(null)
  const [error, setError] = useState<string | null>(null)
  // Every listing is audited (numbers in clear), so the list is read when asked, never on a timer.
  const load = async (cursor: string | undefined, filter = status) => {
    setError(null)
    try {
      const page = await api<ContactPage>('GET', `/campaigns/${campaignId}/contacts` + query({ status: filter, limit: PAGE_SIZE, cursor }))
      setContacts(page.contacts); setNext(page.nextCursor)
    } catch (e) { setError((e as Error).message) }
  }
  const first = (filter = status) => { setCursors([undefined]); load(undefined, filter) }
  useEffect(() => { first() }, [campaignId, refreshKey])
  return (
    <div class='panel'>
      <h3>Contacts</h3>
      <div class='row'>
        <label>Status{' '}
          <select name='contact-status' value={status} onChange={(e) => { const s = e.currentTarget.value as ContactStatus | ''; setStatus(s); first(s) }}>
            <option value=''>any</option>
            {CONTACT_STATUSES.map((s) => <option key={s} value={s}>{s}</option>)}
          </select>
        </label>
        <button type='button' onClick={() => first()}>Reload</button>
      </div>
      {error !== null && <p class='error' role='alert'>{error}</p>}
      <table class='list' data-testid='contacts'>
        <thead><tr><th>Number</th><th>Reference</th><th>Status</th><th>Attempts</th><th>Last outcome</th><th>Next attempt</th></tr></thead>
        <tbody>
          {contacts.map((c) => (
            <tr key={c.id} data-contact={c.number} data-status={c.status}>
              <td>{c.number}</td><td>{c.reference ?? '—'}</td><td>{c.status}</td><td>{c.attempts}</td><td>{c.lastOutcome ?? '—'}</td><td>{when(c.nextAttemptAt)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {contacts.length === 0 && <p class='muted' data-testid='no-contacts'>No contacts{status !== '' ? ` ${status}` : ''}.</p>}
      <div class='row'>
        <button type='button' disabled={cursors.length < 2} onClick={() => { const prev = cursors.slice(0, -1); setCursors(prev); load(prev.at(-1)) }}>Previous page</button>
        <button type='button' disabled={next === null} onClick={() => { setCursors([...cursors, next!]); load(next!) }}>Next page</button>
      </div>
    </div>
  )
}
