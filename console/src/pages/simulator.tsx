import { useState } from 'preact/hooks'
import { api } from '../api.js'

interface Simulated {
  version: number | null
  path: string[]
  requests: Array<{ input: { kind: string, node?: string, digits?: string, dialStatus?: string }, waitingAt: string | null, ended: boolean, consent: string, recording: boolean, twiml: string }>
}

/** Runs the editor's definition through the engine's simulator, in the flow's campaign, at a chosen time. */
export function Simulator ({ flowId, definition }: { flowId: string, definition: unknown }) {
  const [digits, setDigits] = useState('')
  const [at, setAt] = useState(() => new Date().toISOString().slice(0, 16) + 'Z')
  const [result, setResult] = useState<Simulated | null>(null)
  const [error, setError] = useState<string | null>(null)
  const run = async (e: Event) => {
    e.preventDefault()
    setError(null)
    const when = new Date(at)
    if (Number.isNaN(when.getTime())) { setError('the time is not a date (e.g. 2026-11-24T10:00Z)'); return }
    try {
      setResult(await api<Simulated>('POST', `/flows/${flowId}/simulate`, {
        definition,
        digits: digits.split(',').map((d) => d.trim()).filter((_, i, all) => all.length > 1 || all[0] !== ''),
        at: when.toISOString()
      }))
    } catch (err) { setError((err as Error).message); setResult(null) }
  }
  return (
    <div class='simulator'>
      <h3>Simulate a call</h3>
      <form class='row' onSubmit={run}>
        <label>Keys pressed, one entry per prompt (comma-separated; empty = silence) <input name='digits' placeholder='1,9' value={digits} onInput={(e) => setDigits(e.currentTarget.value)} /></label>
        <label>At (ISO time) <input name='at' value={at} onInput={(e) => setAt(e.currentTarget.value)} /></label>
        <button type='submit' disabled={definition === undefined}>Run</button>
      </form>
      {error !== null && <p class='error' role='alert'>{error}</p>}
      {result !== null && (
        <div data-testid='simulation'>
          <p>Path: <code data-testid='sim-path'>{result.path.join(' → ')}</code></p>
          <ol>
            {result.requests.map((r, i) => (
              <li key={i} data-request={i}>
                <strong>{r.input.kind === 'start' ? 'call starts' : `at ${r.input.node}: ${r.input.dialStatus !== undefined ? `dial ${r.input.dialStatus}` : `keys “${r.input.digits ?? ''}”`}`}</strong>
                {' → '}{r.ended ? 'call ended' : `waits at ${r.waitingAt}`} · consent {r.consent}{r.recording ? ' · recording' : ''}
                <pre class='twiml'>{r.twiml}</pre>
              </li>
            ))}
          </ol>
        </div>
      )}
    </div>
  )
}
