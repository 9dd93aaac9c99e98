import { useEffect, useState } from 'preact/hooks'
import { api, query } from '../api.js'
import type { PageProps } from '../pages.js'

interface CallSummary { callSid: string, direction: string, status: string, ourNumber: string, callerNumber: string | null, startedAt: string, durationSeconds: number | null, recordings: number, flowVersion: number | null }
interface CallDetail extends Omit<CallSummary, 'recordings'> {
  endedAt: string | null
  attributes: Record<string, string>
  events: Array<{ seq: number, node: string | null, input: string | null, outcome: string, at: string }>
  consents: Array<{ decision: string, granted: boolean, method: string, node: string, prompt: string, digits: string | null, flowVersion: number | null, attestedBy: string | null, at: string }>
  recordings: Array<{ id: string, status: string, durationMs: number | null, createdAt: string, retainUntil: string | null, legalHold: boolean, truncated: boolean }>
}

export function CallsPage ({ me, route }: PageProps) {
  return route[0] === undefined ? <CallList /> : <CallView key={route[0]} sid={route[0]} canListen={me.role === 'controller' || me.role === 'admin'} />
}

function CallList () {
  const [filters, setFilters] = useState({ number: '', from: '', to: '', outcome: '' })
  const [calls, setCalls] = useState<CallSummary[]>([])
  const [cursors, setCursors] = useState<Array<string | undefined>>([undefined])
  const [next, setNext] = useState<string | null>(null)
  const [error, setError] = useState<string | null>(null)
  const load = async (cursor: string | undefined) => {
    setError(null)
    try {
      // Dates are days in the browser's zone; "to" includes the whole of its day.
      const day = (d: string, plus: number) => d === '' ? undefined : new Date(new Date(`${d}T00:00`).getTime() + plus * 86_400_000).toISOString()
      const page = await api<{ calls: CallSummary[], nextCursor: string | null }>('GET', '/calls' + query({ number: filters.number.trim(), from: day(filters.from, 0), to: day(filters.to, 1), outcome: filters.outcome, limit: 25, cursor }))
      setCalls(page.calls); setNext(page.nextCursor)
    } catch (e) { setError((e as Error).message) }
  }
  useEffect(() => { load(undefined) }, [])
  const search = (e: Event) => { e.preventDefault(); setCursors([undefined]); load(undefined) }
  const set = (k: keyof typeof filters) => (e: { currentTarget: HTMLInputElement | HTMLSelectElement }) => setFilters({ ...filters, [k]: e.currentTarget.value })
  return (
    <section>
      <h2>Calls</h2>
      <form class='row' onSubmit={search}>
        <label>Number <input name='number' placeholder='+447700900123' value={filters.number} onInput={set('number')} /></label>
        <label>From <input type='date' name='from' value={filters.from} onInput={set('from')} /></label>
        <label>To <input type='date' name='to' value={filters.to} onInput={set('to')} /></label>
        <label>
          Outcome{' '}
          <select name='outcome' value={filters.outcome} onChange={set('outcome')}>
            {['', 'in-progress', 'completed', 'no-answer', 'busy', 'failed', 'canceled'].map((o) => <option key={o} value={o}>{o === '' ? 'any' : o}</option>)}
          </select>
        </label>
        <button type='submit'>Search</button>
      </form>
      {error !== null && <p class='error' role='alert'>{error}</p>}
      <table class='list' data-testid='calls'>
        <thead><tr><th>Started</th><th>Direction</th><th>Caller</th><th>Our number</th><th>Outcome</th><th>Duration</th><th>Recordings</th></tr></thead>
        <tbody>
          {calls.map((c) => (
            <tr key={c.callSid} data-call={c.callSid}>
              <td><a href={`#/calls/${c.callSid}`}>{new Date(c.startedAt).toLocaleString()}</a></td><td>{c.direction}</td>
              <td>{c.callerNumber ?? <span class='muted'>not kept</span>}</td><td>{c.ourNumber}</td><td>{c.status}</td>
              <td>{c.durationSeconds === null ? '—' : `${c.durationSeconds} s`}</td><td>{c.recordings}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {calls.length === 0 && <p class='muted'>No calls match.</p>}
      <div class='row'>
        <button type='button' disabled={cursors.length < 2} onClick={() => { const prev = cursors.slice(0, -1); setCursors(prev); load(prev.at(-1)) }}>Previous</button>
        <button type='button' disabled={next === null} onClick={() => { setCursors([...cursors, next!]); load(next!) }}>Next</button>
      </div>
    </section>
  )
}

function CallView ({ sid, canListen }: { sid: string, canListen: boolean }) {
  const [call, setCall] = useState<CallDetail | null>(null)
  const [error, setError] = useState<string | null>(null)
  useEffect(() => { api<CallDetail>('GET', `/calls/${sid}`).then(setCall, (e: Error) => setError(e.message)) }, [sid])
  if (call === null) return <p class='muted'>{error ?? 'Loading…'}</p>
  return (
    <section>
      <h2><a href='#/calls'>Calls</a> / {call.callSid}</h2>
      <p>{call.direction} · {call.status} · flow version {call.flowVersion ?? '—'} · started {new Date(call.startedAt).toLocaleString()}{call.durationSeconds !== null ? ` · ${call.durationSeconds} s` : ''}</p>
      <h3>Timeline</h3>
      <ol class='timeline' data-testid='timeline'>
        {call.events.map((e) => <li key={e.seq}><time>{new Date(e.at).toLocaleTimeString()}</time> <code>{e.node ?? '—'}</code> {e.outcome}{e.input !== null ? ` (input “${e.input}”)` : ''}</li>)}
      </ol>
      <h3>Consent evidence</h3>
      {call.consents.length === 0
        ? <p class='muted'>No consent was asked or given.</p>
        : (
          <table class='list' data-testid='consents'>
            <thead><tr><th>When</th><th>Decision</th><th>How</th><th>Node</th><th>Keys</th><th>What the caller heard</th></tr></thead>
            <tbody>{call.consents.map((c, i) => (
              <tr key={i}><td>{new Date(c.at).toLocaleString()}</td><td class={c.granted ? 'ok' : 'bad'}>{c.decision}</td><td>{c.method}{c.attestedBy !== null ? ` (attested by ${c.attestedBy})` : ''}</td><td>{c.node} (v{c.flowVersion ?? '?'})</td><td>{c.digits ?? '—'}</td><td>{c.prompt}</td></tr>
            ))}
            </tbody>
          </table>
          )}
      <h3>Recordings</h3>
      {call.recordings.length === 0 && <p class='muted'>No recording.</p>}
      {call.recordings.map((r) => <Recording key={r.id} recording={r} canListen={canListen} />)}
    </section>
  )
}

function Recording ({ recording: r, canListen }: { recording: CallDetail['recordings'][number], canListen: boolean }) {
  const [src, setSrc] = useState<string | null>(null)
  const [expires, setExpires] = useState<string | null>(null)
  const [error, setError] = useState<string | null>(null)
  const listen = async () => {
    try {
      const link = await api<{ url: string, expiresAt: string }>('POST', `/recordings/${r.id}/link`, {})
      // The link names PUBLIC_URL, the address Twilio reaches; this page is served by the same
      // server, so its path and token are fetched from here (same origin, allowed by the CSP).
      const url = new URL(link.url)
      setSrc(url.pathname + url.search); setExpires(link.expiresAt)
    } catch (e) { setError((e as Error).message) }
  }
  return (
    <div class='recording' data-recording={r.id}>
      <p>{r.status} · {r.durationMs === null ? '—' : `${(r.durationMs / 1000).toFixed(1)} s`}{r.truncated ? ' · truncated' : ''}{r.legalHold ? ' · legal hold' : ''} · kept until {r.retainUntil === null ? '—' : new Date(r.retainUntil).toLocaleDateString()}</p>
      {canListen && r.status === 'stored' && src === null && <button type='button' onClick={listen}>Get a listening link</button>}
      {src !== null && <><audio controls preload='auto' src={src} /><p class='muted'>Link valid until {new Date(expires!).toLocaleString()}; every fetch is audited.</p></>}
      {error !== null && <p class='error' role='alert'>{error}</p>}
    </div>
  )
}
