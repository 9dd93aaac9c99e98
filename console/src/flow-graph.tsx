// The flow drawn as a graph: nodes in layers by distance from start, edges as lines. Each
// record node is marked by whether consent is certainly granted on every way into it — the
// same "must" analysis the server's validator runs (src/flows/graph.ts), redone here so the
// picture follows the editor as it changes, even before the definition is valid.

type NodeDef = Record<string, unknown> & { type?: unknown }
export interface GraphEdge { from: string, to: string, label: string, consent?: boolean }

const str = (v: unknown): string | undefined => typeof v === 'string' ? v : undefined

/** Edges of one node, as the engine's node handlers declare them (src/flows/nodes/*.ts). */
function edgesOf (id: string, node: NodeDef): GraphEdge[] {
  const out: GraphEdge[] = []
  const add = (to: unknown, label: string, consent?: boolean) => {
    const target = str(to)
    if (target !== undefined) out.push({ from: id, to: target, label, ...(consent === undefined ? {} : { consent }) })
  }
  switch (node.type) {
    case 'menu':
      if (node.options !== null && typeof node.options === 'object') for (const [digit, to] of Object.entries(node.options)) add(to, digit)
      add(node.noInput, 'no input')
      break
    case 'consent':
      add(node.granted, 'granted', true)
      add(node.denied, 'denied', false)
      add(node.noInput, 'no input', false)
      break
    case 'hours':
      add(node.open, 'open')
      add(node.closed, 'closed')
      break
    default:
      add(node.next, '')
  }
  return out
}

export interface FlowGraph {
  start: string | undefined
  ids: string[]
  types: Map<string, string>
  edges: GraphEdge[]
  /** For each node reached from start: consent certainly granted on entry. */
  consentOnEntry: Map<string, boolean>
}

export function readGraph (def: unknown): FlowGraph {
  const d = (def !== null && typeof def === 'object' ? def : {}) as { start?: unknown, nodes?: unknown }
  const nodes = (d.nodes !== null && typeof d.nodes === 'object' ? d.nodes : {}) as Record<string, NodeDef>
  const ids = Object.keys(nodes)
  const types = new Map(ids.map((id) => [id, str(nodes[id]?.type) ?? '?']))
  const edges = ids.flatMap((id) => nodes[id] !== null && typeof nodes[id] === 'object' ? edgesOf(id, nodes[id]) : [])
  const start = str(d.start)
  const entry = new Map<string, boolean>()
  if (start !== undefined && types.has(start)) {
    entry.set(start, false)
    const work = [start]
    while (work.length > 0) {
      const id = work.pop()!
      for (const e of edges) {
        if (e.from !== id || !types.has(e.to)) continue
        const out = e.consent ?? entry.get(id)!
        const before = entry.get(e.to)
        const after = before === undefined ? out : before && out
        if (after !== before) { entry.set(e.to, after); work.push(e.to) }
      }
    }
  }
  return { start, ids, types, edges, consentOnEntry: entry }
}

const W = 150
const H = 44
const GAP_X = 40
const GAP_Y = 60

/** Layers by breadth-first distance from start; nodes nothing reaches go in a last layer. */
function layout (g: FlowGraph): Map<string, { x: number, y: number }> {
  const depth = new Map<string, number>()
  if (g.start !== undefined && g.types.has(g.start)) {
    depth.set(g.start, 0)
    const queue = [g.start]
    for (let i = 0; i < queue.length; i++) {
      const id = queue[i]!
      for (const e of g.edges) {
        if (e.from === id && g.types.has(e.to) && !depth.has(e.to)) { depth.set(e.to, depth.get(id)! + 1); queue.push(e.to) }
      }
    }
  }
  const last = Math.max(-1, ...depth.values()) + 1
  const layers: string[][] = []
  for (const id of g.ids) (layers[depth.get(id) ?? last] ??= []).push(id)
  const pos = new Map<string, { x: number, y: number }>()
  layers.forEach((layer, row) => layer.forEach((id, col) => pos.set(id, { x: 10 + col * (W + GAP_X), y: 10 + row * (H + GAP_Y) })))
  return pos
}

/** Edges between the same two nodes drawn once, their labels joined ("1, no input"). */
function parallel (edges: GraphEdge[]): GraphEdge[] {
  const merged = new Map<string, GraphEdge>()
  for (const e of edges) {
    const key = `${e.from}\u0000${e.to}`
    const seen = merged.get(key)
    if (seen === undefined) merged.set(key, { ...e })
    else merged.set(key, { ...seen, label: [seen.label, e.label].filter((l) => l !== '').join(', '), ...(seen.consent === e.consent ? {} : { consent: false }) })
  }
  return [...merged.values()]
}

export function FlowGraphView ({ graph, flagged }: { graph: FlowGraph, flagged: Set<string> }) {
  const pos = layout(graph)
  const width = Math.max(200, ...[...pos.values()].map((p) => p.x + W + 10))
  const height = Math.max(80, ...[...pos.values()].map((p) => p.y + H + 10))
  return (
    <svg class="graph" width={width} height={height} viewBox={`0 0 ${width} ${height}`} role="img" aria-label="flow graph">
      <defs>
        <marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" markerHeight="6" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" /></marker>
      </defs>
      {parallel(graph.edges).map((e, i) => {
        const a = pos.get(e.from)
        const b = pos.get(e.to)
        if (a === undefined || b === undefined) return null
        const x1 = a.x + W / 2; const y1 = a.y + H; const x2 = b.x + W / 2; const y2 = b.y
        const down = y2 > y1
        // An edge back up (a loop) curves round the right so it does not run through the nodes.
        const bend = Math.max(a.x, b.x) + W + 60
        // Neighbours in one layer: a straight line between their facing sides.
        const side = a.y === b.y && a.x !== b.x
        const [sx, tx] = a.x < b.x ? [a.x + W, b.x] : [a.x, b.x + W]
        const d = down
          ? `M ${x1} ${y1} L ${x2} ${y2}`
          : side
            ? `M ${sx} ${a.y + H / 2} L ${tx} ${b.y + H / 2}`
            : `M ${a.x + W} ${a.y + H / 2} C ${bend} ${a.y + H / 2}, ${bend} ${b.y + H / 2}, ${b.x + W} ${b.y + H / 2}`
        const [lx, ly] = down ? [x1 + (x2 - x1) * 0.35 + 4, y1 + (y2 - y1) * 0.35] : side ? [(sx + tx) / 2 - 8, a.y + H / 2 - 4] : [bend - 12, (a.y + b.y + H) / 2]
        return (
          <g key={i} class={`edge${e.consent === true ? ' granted' : ''}`} data-from={e.from} data-to={e.to}>
            <path d={d} marker-end="url(#arrow)" />
            {e.label !== '' && <text x={lx} y={ly}>{e.label}</text>}
          </g>
        )
      })}
      {graph.ids.map((id) => {
        const p = pos.get(id)!
        const type = graph.types.get(id)!
        const consent = graph.consentOnEntry.get(id)
        const gated = type === 'record' ? (consent === true ? 'gated' : 'ungated') : undefined
        return (
          <g key={id} class={`node type-${type}${flagged.has(id) ? ' flagged' : ''}${gated !== undefined ? ` ${gated}` : ''}`} data-node={id} data-type={type} {...(gated !== undefined ? { 'data-consent': gated } : {})} transform={`translate(${p.x} ${p.y})`}>
            <rect width={W} height={H} rx="6" />
            <text x="8" y="18" class="id">{id}{id === graph.start ? ' ▶' : ''}</text>
            <text x="8" y="35" class="kind">{type}{gated === 'gated' ? ' · after consent' : gated === 'ungated' ? ' · NO CONSENT' : ''}</text>
          </g>
        )
      })}
    </svg>
  )
}
