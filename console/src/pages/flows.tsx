import { useEffect, useMemo, useRef, useState } from 'preact/hooks'
import { api, ApiError, type Campaign, type Flow, type FlowGraph, type Problem, type Validation, type Version, type VersionListItem } from '../api.js'
import { FlowGraphView } from '../flow-graph.js'
import type { PageProps } from '../pages.js'
import { go } from '../router.js'
import { Simulator } from './simulator.js'

const TEMPLATE = { start: 'welcome', nodes: { welcome: { type: 'say', text: 'Thank you for calling.', next: 'bye' }, bye: { type: 'hangup' } } }

export function FlowsPage ({ route }: PageProps) {
  return route[0] === undefined ? <FlowList /> : <FlowEditor key={route[0]} id={route[0]} />
}

function FlowList () {
  const [flows, setFlows] = useState<Flow[]>([])
  const [campaigns, setCampaigns] = useState<Campaign[]>([])
  const [name, setName] = useState('')
  const [campaignId, setCampaignId] = useState('')
  const [error, setError] = useState<string | null>(null)
  useEffect(() => {
    api<Flow[]>('GET', '/flows').then(setFlows, (e: Error) => setError(e.message))
    api<Campaign[]>('GET', '/campaigns').then((c) => { setCampaigns(c); setCampaignId(c[0]?.id ?? '') }, (e: Error) => setError(e.message))
  }, [])
  const create = async (e: Event) => {
    e.preventDefault()
    try {
      const flow = await api<Flow>('POST', '/flows', { name, campaignId })
      go('flows', flow.id)
    } catch (err) { setError((err as Error).message) }
  }
  const campaignName = (id: string) => campaigns.find((c) => c.id === id)?.name ?? id
  return (
    <section>
      <h2>Flows</h2>
      <table class='list'>
        <thead><tr><th>Name</th><th>Campaign</th><th>Published</th><th>Created</th></tr></thead>
        <tbody>
          {flows.map((f) => (
            <tr key={f.id} data-flow={f.name}>
              <td><a href={`#/flows/${f.id}`}>{f.name}</a></td><td>{campaignName(f.campaignId)}</td>
              <td>{f.publishedVersion === null ? '—' : `v${f.publishedVersion}`}</td><td>{new Date(f.createdAt).toLocaleString()}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <form class='row' onSubmit={create} data-form='new-flow'>
        <h3>New flow</h3>
        <label>Name <input name='name' required value={name} onInput={(e) => setName(e.currentTarget.value)} /></label>
        <label>
          Campaign{' '}
          <select name='campaignId' value={campaignId} onChange={(e) => setCampaignId(e.currentTarget.value)}>
            {campaigns.map((c) => <option key={c.id} value={c.id}>{c.name}</option>)}
          </select>
        </label>
        <button type='submit' disabled={campaignId === ''}>Create</button>
      </form>
      {error !== null && <p class='error' role='alert'>{error}</p>}
    </section>
  )
}

/** A saver or publisher: the user's name; the admin token has none (and no user). */
function who (id: string | null, name: string | null): string {
  return id === null ? 'admin token' : name ?? `user ${id}`
}

/** Node ids and their written types, as the text has them (problems are listed under them). */
function nodesWritten (def: unknown): Array<[string, string]> {
  const nodes = (def as { nodes?: unknown } | null)?.nodes
  if (nodes === null || typeof nodes !== 'object' || Array.isArray(nodes)) return []
  return Object.entries(nodes).map(([id, node]) => [id, typeof (node as { type?: unknown } | null)?.type === 'string' ? (node as { type: string }).type : '?'])
}

/** "/nodes/menu~1x/options/1" → "menu/x"; null for problems about the flow as a whole. */
function nodeOf (path: string): string | null {
  const m = /^\/nodes\/([^/]+)/.exec(path)
  return m === null ? null : m[1]!.replaceAll('~1', '/').replaceAll('~0', '~')
}

function FlowEditor ({ id }: { id: string }) {
  const [flow, setFlow] = useState<Flow | null>(null)
  const [versions, setVersions] = useState<VersionListItem[]>([])
  const [opened, setOpened] = useState<number | null>(null)
  const [text, setText] = useState('')
  const [problems, setProblems] = useState<Problem[]>([])
  const [publishProblems, setPublishProblems] = useState<Problem[]>([])
  const [syntax, setSyntax] = useState<string | null>(null)
  const [checking, setChecking] = useState(false)
  // The server's graph of the last definition it could read; kept while the text is mid-edit.
  const [graph, setGraph] = useState<FlowGraph | null>(null)
  const [graphStale, setGraphStale] = useState(false)
  const [message, setMessage] = useState<string | null>(null)
  const [error, setError] = useState<string | null>(null)
  const timer = useRef<number | undefined>(undefined)
  const latest = useRef(0)
  // Read by the debounced validation, which may run before the flow's own state has rendered.
  const campaignOf = useRef<string | null>(null)

  const reload = async () => {
    const [f, v] = await Promise.all([api<Flow>('GET', `/flows/${id}`), api<VersionListItem[]>('GET', `/flows/${id}/versions`)])
    setFlow(f); setVersions(v); campaignOf.current = f.campaignId
    return { f, v }
  }
  const open = async (version: number) => {
    const v = await api<Version>('GET', `/flows/${id}/versions/${version}`)
    setOpened(version)
    edit(JSON.stringify(v.definition, null, 2))
  }
  useEffect(() => {
    reload().then(({ f, v }) => {
      const initial = f.publishedVersion ?? v.at(-1)?.version
      if (initial !== undefined) return open(initial)
      edit(JSON.stringify(TEMPLATE, null, 2))
    }).catch((e: Error) => setError(e.message))
  }, [id])

  const parsed = useMemo(() => { try { return JSON.parse(text) as unknown } catch { return undefined } }, [text])
  // The nodes as written, for the problem list; what they mean is the server's graph.
  const written = useMemo(() => nodesWritten(parsed), [parsed])

  // Validation runs on the server (the same validator that guards saving), a moment after typing stops.
  function edit (next: string) {
    setText(next)
    clearTimeout(timer.current)
    let definition: unknown
    try { definition = JSON.parse(next); setSyntax(null) } catch (e) { setSyntax((e as Error).message); setProblems([]); setGraphStale(true); return }
    setChecking(true)
    const ticket = ++latest.current
    timer.current = window.setTimeout(() => {
      api<Validation>('POST', '/flows/validate', { definition, ...(campaignOf.current !== null ? { campaignId: campaignOf.current } : {}) })
        .then((r) => {
          if (ticket !== latest.current) return
          setProblems(r.problems); setPublishProblems(r.publishProblems)
          if (r.graph !== null) setGraph(r.graph)
          setGraphStale(r.graph === null)
        })
        .catch((e: Error) => setError(e.message))
        .finally(() => { if (ticket === latest.current) setChecking(false) })
    }, 350)
  }

  const act = async (what: () => Promise<string>) => {
    setError(null); setMessage(null)
    try { setMessage(await what()) } catch (e) {
      setError(e instanceof ApiError && e.problems.length > 0 ? `${e.message}` : (e as Error).message)
    }
  }
  const save = () => act(async () => {
    const v = await api<Version>('POST', `/flows/${id}/versions`, { definition: parsed })
    await reload(); setOpened(v.version)
    return `Saved as version ${v.version}.`
  })
  const publish = (version: number) => act(async () => {
    const f = await api<Flow>('POST', `/flows/${id}/versions/${version}/publish`)
    await reload()
    return `Published version ${f.publishedVersion}.`
  })
  const rollback = () => act(async () => {
    const f = await api<Flow>('POST', `/flows/${id}/rollback`)
    await reload()
    return `Rolled back: version ${f.publishedVersion} is live.`
  })

  const byNode = new Map<string | null, Problem[]>()
  for (const p of problems) byNode.set(nodeOf(p.path), [...(byNode.get(nodeOf(p.path)) ?? []), p])
  const flagged = new Set([...byNode.keys()].filter((k): k is string => k !== null))
  const valid = syntax === null && !checking && problems.length === 0

  if (flow === null) return <p class='muted'>{error ?? 'Loading…'}</p>
  return (
    <section class='flow-editor'>
      <h2><a href='#/flows'>Flows</a> / {flow.name}</h2>
      <p>Live: <strong data-testid='published-version'>{flow.publishedVersion === null ? 'not published' : `version ${flow.publishedVersion}`}</strong>
        {' · '}Editing: {opened === null ? 'a new definition' : `based on version ${opened}`}
      </p>
      <div class='editor-grid'>
        <div>
          <textarea class='json' spellcheck={false} aria-label='flow definition (JSON)' value={text} onInput={(e) => edit(e.currentTarget.value)} />
          <div class='row'>
            <button type='button' onClick={save} disabled={!valid}>Save as new version</button>
            <span class={`status ${valid ? 'ok' : 'bad'}`} data-testid='validity'>
              {syntax !== null ? 'not JSON' : checking ? 'checking…' : problems.length === 0 ? 'valid' : `${problems.length} problem${problems.length === 1 ? '' : 's'}`}
            </span>
          </div>
          {message !== null && <p class='ok' role='status' data-testid='flow-message'>{message}</p>}
          {error !== null && <p class='error' role='alert'>{error}</p>}
        </div>
        <div class='nodes-panel'>
          <h3>Nodes</h3>
          {syntax !== null && <p class='error' data-testid='syntax'>{syntax}</p>}
          {(byNode.get(null) ?? []).map((p) => <p key={p.path} class='problem' data-path={p.path}>{p.path || '(flow)'}: {p.message}</p>)}
          <ul>
            {written.map(([n, type]) => (
              <li key={n} data-node={n} class={flagged.has(n) ? 'flagged' : ''}>
                <code>{n}</code> <span class='muted'>{type}</span>
                {(byNode.get(n) ?? []).map((p) => <div key={p.path} class='problem' data-path={p.path}>{p.path.split('/').slice(3).join('/') || 'node'}: {p.message}</div>)}
              </li>
            ))}
          </ul>
          {publishProblems.length > 0 && <div class='warn'><strong>Publishing to this campaign would fail:</strong>{publishProblems.map((p) => <div key={p.path}>{p.path}: {p.message}</div>)}</div>}
        </div>
      </div>
      <h3>Graph</h3>
      <p class='muted'>Record nodes are marked “after consent” when every way into them passes a granted consent.</p>
      {graphStale && graph !== null && <p class='muted' data-testid='graph-stale'>The definition cannot be drawn as it stands: the graph below is the last one that could.</p>}
      <div class='graph-wrap'>{graph !== null ? <FlowGraphView graph={graph} flagged={flagged} /> : <p class='muted'>No graph yet.</p>}</div>
      <Simulator flowId={id} definition={valid ? parsed : undefined} />
      <h3>Versions</h3>
      <table class='list' data-testid='versions'>
        <thead><tr><th>Version</th><th>Saved by</th><th>Saved</th><th>Published</th><th /></tr></thead>
        <tbody>
          {[...versions].reverse().map((v) => (
            <tr key={v.version} data-version={v.version}>
              <td>v{v.version}{v.version === flow.publishedVersion ? ' (live)' : ''}</td>
              <td data-testid='saved-by'>{who(v.createdBy, v.createdByName)}</td><td>{new Date(v.createdAt).toLocaleString()}</td>
              <td>{v.publishedAt === null ? '—' : `${new Date(v.publishedAt).toLocaleString()} by ${who(v.publishedBy, v.publishedByName)}`}</td>
              <td>
                <button type='button' class='link' onClick={() => { open(v.version).catch((e: Error) => setError(e.message)) }}>Open</button>
                {v.version !== flow.publishedVersion && <button type='button' onClick={() => publish(v.version)}>Publish v{v.version}</button>}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <button type='button' onClick={rollback} disabled={flow.publishedVersion === null}>Roll back to the previously published version</button>
    </section>
  )
}
