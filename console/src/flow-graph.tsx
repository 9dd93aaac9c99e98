// The flow drawn as a graph: nodes in layers by distance from start, edges as lines. What the
// graph is — which edges a node has, and whether consent is certain on entry to each node — is
// the server's answer (POST /api/flows/validate), read by the same code that guards saving; this
// file only lays it out.
import type { FlowGraph } from './api.js'

type GraphEdge = FlowGraph['edges'][number]

const W = 150
const H = 44
const GAP_X = 40
const GAP_Y = 60

/** Layers by breadth-first distance from start; nodes nothing reaches go in a last layer. */
function layout (g: FlowGraph): Map<string, { x: number, y: number }> {
  const depth = new Map<string, number>()
  if (g.nodes.some((n) => n.id === g.start)) {
    depth.set(g.start, 0)
    const queue = [g.start]
    for (let i = 0; i < queue.length; i++) {
      const id = queue[i]!
      for (const e of g.edges) {
        if (e.from === id && !depth.has(e.to)) { depth.set(e.to, depth.get(id)! + 1); queue.push(e.to) }
      }
    }
  }
  const last = Math.max(-1, ...depth.values()) + 1
  const layers: string[][] = []
  for (const { id } of g.nodes) (layers[depth.get(id) ?? last] ??= []).push(id)
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
    // Drawn as granting only when every edge it stands for grants consent.
    else merged.set(key, { ...seen, label: [seen.label, e.label].filter((l) => l !== '').join(', '), grantsConsent: seen.grantsConsent && e.grantsConsent })
  }
  return [...merged.values()]
}

export function FlowGraphView ({ graph, flagged }: { graph: FlowGraph, flagged: Set<string> }) {
  const pos = layout(graph)
  const width = Math.max(200, ...[...pos.values()].map((p) => p.x + W + 10))
  const height = Math.max(80, ...[...pos.values()].map((p) => p.y + H + 10))
  return (
    <svg class='graph' width={width} height={height} viewBox={`0 0 ${width} ${height}`} role='img' aria-label='flow graph'>
      <defs>
        <marker id='arrow' viewBox='0 0 10 10' refX='10' refY='5' markerWidth='6' markerHeight='6' orient='auto-start-reverse'><path d='M 0 0 L 10 5 L 0 10 z' /></marker>
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
          <g key={i} class={`edge${e.grantsConsent ? ' granted' : ''}`} data-from={e.from} data-to={e.to}>
            <path d={d} marker-end='url(#arrow)' />
            {e.label !== '' && <text x={lx} y={ly}>{e.label}</text>}
          </g>
        )
      })}
      {graph.nodes.map(({ id, type, consentOnEntry }) => {
        const p = pos.get(id)!
        const gated = type !== 'record' ? undefined : consentOnEntry === null ? 'unreached' : consentOnEntry ? 'gated' : 'ungated'
        return (
          <g key={id} class={`node type-${type}${flagged.has(id) ? ' flagged' : ''}${gated !== undefined ? ` ${gated}` : ''}`} data-node={id} data-type={type} {...(gated !== undefined ? { 'data-consent': gated } : {})} transform={`translate(${p.x} ${p.y})`}>
            <rect width={W} height={H} rx='6' />
            <text x='8' y='18' class='id'>{id}{id === graph.start ? ' ▶' : ''}</text>
            <text x='8' y='35' class='kind'>{type}{gated === 'gated' ? ' · after consent' : gated === 'ungated' ? ' · NO CONSENT' : gated === 'unreached' ? ' · unreachable' : ''}</text>
          </g>
        )
      })}
    </svg>
  )
}
