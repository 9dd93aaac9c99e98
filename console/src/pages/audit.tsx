import { useEffect, useState } from 'preact/hooks'
import { api, query, tenantParam } from '../api.js'
import type { PageProps } from '../pages.js'

interface Entry { seq: number, at: string, actor: string, action: string, subject: string | null, details: unknown, hash: string }
interface Verify { ok: boolean, entries: number, firstBroken?: { seq: number, reason: string } }

export function AuditPage ({ me, tenant }: PageProps) {
  const scope = tenantParam(me, tenant)
  const [filters, setFilters] = useState({ action: '', actor: '', subject: '' })
  const [entries, setEntries] = useState<Entry[]>([])
  const [next, setNext] = useState<number | null>(null)
  const [verify, setVerify] = useState<Verify | null>(null)
  const [error, setError] = useState<string | null>(null)
  const load = async (afterSeq?: number) => {
    try {
      const page = await api<{ entries: Entry[], nextAfterSeq: number | null }>('GET', '/audit' + query({ ...filters, afterSeq, limit: 100, ...scope }))
      setEntries(afterSeq === undefined ? page.entries : [...entries, ...page.entries]); setNext(page.nextAfterSeq)
    } catch (e) { setError((e as Error).message) }
  }
  const check = () => api<Verify>('GET', '/audit/verify' + query(scope)).then(setVerify, (e: Error) => setError(e.message))
  useEffect(() => { load(); check() }, [])
  const set = (k: keyof typeof filters) => (e: { currentTarget: HTMLInputElement }) => setFilters({ ...filters, [k]: e.currentTarget.value })
  return (
    <section>
      <h2>Audit log</h2>
      <p data-testid='chain' class={verify === null ? 'muted' : verify.ok ? 'ok' : 'bad'}>
        {verify === null ? 'Verifying the hash chain…' : verify.ok ? `Hash chain verified: ${verify.entries} entries, unbroken.` : `Hash chain BROKEN at entry ${verify.firstBroken?.seq}: ${verify.firstBroken?.reason}`}
        {' '}<button type='button' class='link' onClick={check}>Verify again</button>
      </p>
      <form class='row' onSubmit={(e) => { e.preventDefault(); load() }}>
        <label>Action <input name='action' placeholder='dsr.access' value={filters.action} onInput={set('action')} /></label>
        <label>Actor <input name='actor' value={filters.actor} onInput={set('actor')} /></label>
        <label>Subject <input name='subject' value={filters.subject} onInput={set('subject')} /></label>
        <button type='submit'>Filter</button>
      </form>
      {error !== null && <p class='error' role='alert'>{error}</p>}
      <table class='list' data-testid='audit'>
        <thead><tr><th>#</th><th>When</th><th>Actor</th><th>Action</th><th>Subject</th><th>Details</th></tr></thead>
        <tbody>{entries.map((e) => (
          <tr key={e.seq} data-action={e.action}><td>{e.seq}</td><td>{new Date(e.at).toLocaleString()}</td><td>{e.actor}</td><td>{e.action}</td><td>{e.subject ?? '—'}</td><td><code>{JSON.stringify(e.details)}</code></td></tr>
        ))}
        </tbody>
      </table>
      {next !== null && <button type='button' onClick={() => load(next)}>More</button>}
    </section>
  )
}
