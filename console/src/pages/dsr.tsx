import { useState } from 'preact/hooks'
import { api, tenantParam } from '../api.js'
import type { PageProps } from '../pages.js'

interface Dsr { id: string, type: string, status: string, requestedBy: string | null, createdAt: string, completedAt: string | null, result: unknown, export?: unknown }

// Requests made in this tab, kept so the controller sees their results side by side; a request
// from earlier is found by its id.
export function DsrPage ({ me, tenant }: PageProps) {
  const [type, setType] = useState('access')
  const [number, setNumber] = useState('')
  const [corrections, setCorrections] = useState('')
  const [results, setResults] = useState<Dsr[]>([])
  const [lookup, setLookup] = useState('')
  const [error, setError] = useState<string | null>(null)
  const submit = async (e: Event) => {
    e.preventDefault()
    setError(null)
    try {
      let fixes: Record<string, string> | undefined
      if (type === 'rectification') {
        // One "attribute = corrected value" per line.
        fixes = Object.fromEntries(corrections.split('\n').filter((l) => l.includes('=')).map((l) => [l.slice(0, l.indexOf('=')).trim(), l.slice(l.indexOf('=') + 1).trim()]))
      }
      if (type === 'erasure' && !confirm(`Erase every call, recording and consent of ${number}? This cannot be undone.`)) return
      const dsr = await api<Dsr>('POST', '/dsr', { type, number: number.trim(), ...tenantParam(me, tenant), ...(fixes !== undefined ? { corrections: fixes } : {}) })
      setResults([dsr, ...results])
    } catch (err) { setError((err as Error).message) }
  }
  const find = async (e: Event) => {
    e.preventDefault()
    try { const dsr = await api<Dsr>('GET', `/dsr/${lookup.trim()}`); setResults([dsr, ...results.filter((r) => r.id !== dsr.id)]) } catch (err) { setError((err as Error).message) }
  }
  const lift = async (id: string) => {
    try { const dsr = await api<Dsr>('POST', `/dsr/${id}/lift`); setResults(results.map((r) => r.id === id ? dsr : r)) } catch (err) { setError((err as Error).message) }
  }
  return (
    <section>
      <h2>Data-subject requests</h2>
      <form class='dsr' onSubmit={submit}>
        <label>
          Request{' '}
          <select name='type' value={type} onChange={(e) => setType(e.currentTarget.value)}>
            <option value='access'>access (Art. 15)</option><option value='erasure'>erasure (Art. 17)</option>
            <option value='restriction'>restriction (Art. 18)</option><option value='rectification'>rectification (Art. 16)</option>
          </select>
        </label>
        <label>The person's number (E.164) <input name='number' required placeholder='+447700900123' value={number} onInput={(e) => setNumber(e.currentTarget.value)} /></label>
        {type === 'rectification' && <label>Corrections, one “attribute = value” per line <textarea name='corrections' rows={3} value={corrections} onInput={(e) => setCorrections(e.currentTarget.value)} /></label>}
        <button type='submit'>Run request</button>
      </form>
      <form class='row' onSubmit={find}>
        <label>Find a request by id <input name='dsrId' value={lookup} onInput={(e) => setLookup(e.currentTarget.value)} /></label>
        <button type='submit'>Find</button>
      </form>
      {error !== null && <p class='error' role='alert'>{error}</p>}
      {results.map((r) => (
        <article key={r.id} class='dsr-result' data-dsr={r.type} data-status={r.status}>
          <h3>{r.type} · {r.status}</h3>
          <p class='muted'>id {r.id} · requested {new Date(r.createdAt).toLocaleString()}{r.completedAt !== null ? ` · completed ${new Date(r.completedAt).toLocaleString()}` : ''}</p>
          <pre data-testid='dsr-summary'>{JSON.stringify(r.result, null, 2)}</pre>
          {r.export !== undefined && (
            <details><summary>The export for the person</summary>
              <a download={`access-${r.id}.json`} href={URL.createObjectURL(new Blob([JSON.stringify(r.export, null, 2)], { type: 'application/json' }))}>Download as JSON</a>
              <pre>{JSON.stringify(r.export, null, 2).slice(0, 5000)}</pre>
            </details>
          )}
          {r.type === 'restriction' && r.status === 'active' && <button type='button' onClick={() => lift(r.id)}>Lift restriction</button>}
        </article>
      ))}
    </section>
  )
}
