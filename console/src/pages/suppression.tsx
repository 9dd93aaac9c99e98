import { useState } from 'preact/hooks'
import { api, query, tenantParam } from '../api.js'
import { UploadProgress, useCsvUpload } from '../csv-upload.js'
import type { PageProps } from '../pages.js'

interface Status { number: string, suppressed: boolean, since: string | null, entries: Array<{ source: string, reason: string | null, createdAt: string }> }
interface ImportResult { lines: number, added: number, alreadyPresent: number, invalid: number, invalidLines: number[] }

export function SuppressionPage ({ me, tenant }: PageProps) {
  const scope = tenantParam(me, tenant)
  const [number, setNumber] = useState('')
  const [reason, setReason] = useState('')
  const [status, setStatus] = useState<Status | null>(null)
  const [error, setError] = useState<string | null>(null)
  const canRemove = me.role !== 'agent'
  const run = (what: () => Promise<Status>) => async (e?: Event) => {
    e?.preventDefault()
    setError(null)
    try { setStatus(await what()) } catch (err) { setError((err as Error).message); setStatus(null) }
  }
  const check = run(() => api<Status>('GET', '/suppressions' + query({ number: number.trim(), ...scope })))
  const add = run(() => api<Status>('POST', '/suppressions', { number: number.trim(), ...scope, ...(reason.trim() !== '' ? { reason: reason.trim() } : {}) }))
  const remove = run(() => api<Status>('DELETE', '/suppressions' + query({ number: number.trim(), reason: reason.trim(), ...scope })))
  return (
    <section>
      <h2>Suppression list</h2>
      <form class='row' onSubmit={check}>
        <label>Number <input name='number' required placeholder='+447700900123' value={number} onInput={(e) => setNumber(e.currentTarget.value)} /></label>
        <label>Reason <input name='reason' placeholder='asked by e-mail on …' value={reason} onInput={(e) => setReason(e.currentTarget.value)} /></label>
        <button type='submit'>Check</button>
        <button type='button' onClick={() => add()}>Add</button>
        {canRemove && <button type='button' onClick={() => remove()}>Remove</button>}
      </form>
      {error !== null && <p class='error' role='alert'>{error}</p>}
      {status !== null && (
        <div data-testid='suppression-status' data-suppressed={String(status.suppressed)}>
          <p><strong>{status.number}</strong> is {status.suppressed ? `suppressed since ${new Date(status.since!).toLocaleString()}` : 'not suppressed'}.</p>
          <ul>{status.entries.map((e, i) => <li key={i}>{e.source}{e.reason !== null ? `: ${e.reason}` : ''} ({new Date(e.createdAt).toLocaleString()})</li>)}</ul>
        </div>
      )}
      {canRemove && <Import scope={scope} />}
    </section>
  )
}

function Import ({ scope }: { scope: { tenantId?: string } }) {
  const { file, setFile, progress, result, error, send } = useCsvUpload<ImportResult>()
  const start = async (e: Event) => {
    e.preventDefault()
    await send('/suppressions/import' + query(scope))
  }
  return (
    <form class='import' onSubmit={start}>
      <h3>Import a CSV</h3>
      <p class='muted'>One number per line (or in the first column), in international form.</p>
      <input type='file' name='csv' accept='.csv,text/csv' onChange={(e) => setFile(e.currentTarget.files?.[0] ?? null)} />
      <button type='submit' disabled={file === null}>Import</button>
      <UploadProgress progress={progress} testId='import-progress' />
      {result !== null && <p data-testid='import-result'>{result.lines} lines: {result.added} added, {result.alreadyPresent} already there, {result.invalid} invalid{result.invalid > 0 ? ` (lines ${result.invalidLines.slice(0, 20).join(', ')})` : ''}.</p>}
      {error !== null && <p class='error' role='alert'>{error}</p>}
    </form>
  )
}
