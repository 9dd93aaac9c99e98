// The flow as a directed graph, and the analyses validate.ts runs on it. Edges come from each
// node type's handler, so the validator and the engine agree on what a node can do next.
import type { FlowNode } from './definition.js'
import type { Edge } from './node-handler.js'
import { handlerFor } from './nodes/registry.js'

export interface GraphNode {
  node: FlowNode;
  waits: boolean;
  edges: Edge[];
}

export interface FlowGraph {
  start: string;
  /** Where calls begin: start, and the machine entry when the flow has one. */
  entries: string[];
  /** In definition order, which keeps every report deterministic. */
  nodes: Map<string, GraphNode>;
}

export type EdgeFilter = (edge: Edge) => boolean

export function buildGraph (start: string, nodes: Map<string, FlowNode>, machine?: string): FlowGraph {
  const graph: FlowGraph = { start, entries: machine === undefined || machine === start ? [start] : [start, machine], nodes: new Map() }
  for (const [id, node] of nodes) {
    const handler = handlerFor(node)
    graph.nodes.set(id, { node, waits: handler.waits, edges: handler.edges(node) })
  }
  return graph
}

/** Successors along the chosen edges that are nodes of the graph. */
function successors (graph: FlowGraph, id: string, follow: EdgeFilter): string[] {
  const edges = graph.nodes.get(id)?.edges ?? []
  return edges.filter((e) => follow(e) && graph.nodes.has(e.target)).map((e) => e.target)
}

export function reachable (graph: FlowGraph): Set<string> {
  const queue = graph.entries.filter((id) => graph.nodes.has(id))
  const seen = new Set<string>(queue)
  for (let i = 0; i < queue.length; i += 1) {
    for (const next of successors(graph, queue[i] as string, () => true)) {
      if (!seen.has(next)) {
        seen.add(next)
        queue.push(next)
      }
    }
  }
  return seen
}

/**
 * Strongly connected components along the chosen edges that contain a cycle (more than one
 * node, or a node with an edge to itself), each in definition order. Tarjan's algorithm over
 * node numbers, iterative so that a long chain of nodes cannot overflow the stack.
 */
export function loops (graph: FlowGraph, follow: EdgeFilter): string[][] {
  const ids = [...graph.nodes.keys()]
  const numberOf = new Map(ids.map((id, i) => [id, i]))
  const succ = ids.map((id) =>
    (graph.nodes.get(id)?.edges ?? []).flatMap((e) => (follow(e) ? (numberOf.get(e.target) ?? []) : []))
  )
  const UNSEEN = -1
  const index = new Int32Array(ids.length).fill(UNSEEN)
  const low = new Int32Array(ids.length)
  const onStack = new Uint8Array(ids.length)
  const stack: number[] = []
  const found: string[][] = []
  let counter = 0
  // Call frames of the depth-first search: a node and the position of its next successor.
  const frameNode: number[] = []
  const frameNext: number[] = []
  const open = (v: number): void => {
    index[v] = counter
    low[v] = counter
    counter += 1
    stack.push(v)
    onStack[v] = 1
    frameNode.push(v)
    frameNext.push(0)
  }

  for (let root = 0; root < ids.length; root += 1) {
    if (index[root] !== UNSEEN) continue
    open(root)
    while (frameNode.length > 0) {
      const top = frameNode.length - 1
      const v = frameNode[top] as number
      const out = succ[v] as number[]
      const next = frameNext[top] as number
      if (next < out.length) {
        frameNext[top] = next + 1
        const w = out[next] as number
        if (index[w] === UNSEEN) open(w)
        else if (onStack[w] === 1) low[v] = Math.min(low[v] as number, index[w] as number)
        continue
      }
      frameNode.pop()
      frameNext.pop()
      const parent = frameNode[frameNode.length - 1]
      if (parent !== undefined) low[parent] = Math.min(low[parent] as number, low[v] as number)
      if (low[v] !== index[v]) continue
      const component: number[] = []
      let member: number
      do {
        member = stack.pop() as number
        onStack[member] = 0
        component.push(member)
      } while (member !== v)
      if (component.length > 1 || out.includes(v)) found.push(component.sort((a, b) => a - b).map((n) => ids[n] as string))
    }
  }
  return found
}

/** A shortest cycle from `from` back to itself, staying inside `within`. */
export function cycleThrough (graph: FlowGraph, from: string, within: Set<string>, follow: EdgeFilter): string[] {
  const parent = new Map<string, string>()
  const queue = [from]
  for (let i = 0; i < queue.length; i += 1) {
    const id = queue[i] as string
    for (const next of successors(graph, id, follow)) {
      if (!within.has(next)) continue
      if (next === from) return [...pathTo(parent, id, from), from]
      if (!parent.has(next)) {
        parent.set(next, id)
        queue.push(next)
      }
    }
  }
  return [from]
}

function pathTo (parent: Map<string, string>, id: string, root: string): string[] {
  const path = [id]
  for (let at = id; at !== root;) {
    at = parent.get(at) as string
    path.unshift(at)
  }
  return path
}

/** A path too long to print whole: its first and last nodes and how many lie between. */
export interface PathSummary {
  first: string[];
  /** Nodes left out between `first` and `last`; 0 when the path is whole. */
  omitted: number;
  last: string[];
}

/** Nodes printed at each end of a long path; a path of up to twice this many is printed whole. */
export const PATH_ENDS = 4

export function summarizePath (path: string[]): PathSummary {
  if (path.length <= 2 * PATH_ENDS) return { first: path, omitted: 0, last: [] }
  return { first: path.slice(0, PATH_ENDS), omitted: path.length - 2 * PATH_ENDS, last: path.slice(-PATH_ENDS) }
}

export interface MustProof {
  /** The property certainly holds on entry, whichever path the call took; absent: not reached from an entry. */
  entry: Map<string, boolean>;
  /**
   * A shortest path from an entry to `id` along which the property does not hold, summarised;
   * costs O(PATH_ENDS) whatever the path's length. [id] when there is none.
   */
  pathWithout(id: string): PathSummary;
}

/** Consent granted on entry: a consent node's granted edge sets it, its other edges clear it. */
export function consentProof (graph: FlowGraph): MustProof {
  return mustProof(graph, (_from, edge, held) => edge.consent ?? held)
}

/**
 * A compliance proof, in one breadth-first pass over (node, property holds) pairs starting at
 * (entry, false) for each entry (start, and the machine entry). Along an edge the value is what `carry` makes of it (for consent: a consent
 * node's granted edge sets it, its denied and noInput edges clear it, any other keeps it). The
 * property certainly holds on entry to a node when its (node, false) pair is never reached,
 * which is the "must" dataflow answer (AND over every way in). Each pair is visited once and each edge
 * followed at most twice, so the pass is linear in nodes + edges. Each pair keeps the pair it was
 * first reached from, its depth and its ancestor PATH_ENDS - 1 steps from start, so that any
 * node's witness path is read back in O(PATH_ENDS): the same shortest path a search for that one
 * node would find, since the search order does not depend on the target.
 */
export function mustProof (graph: FlowGraph, carry: (from: string, edge: Edge, held: boolean) => boolean): MustProof {
  const ids = [...graph.nodes.keys()]
  const indexOf = new Map(ids.map((id, i) => [id, i]))
  // Pair p = 2 × node index + (1 when consent is granted).
  const size = 2 * ids.length
  const parent = new Int32Array(size).fill(-1)
  const depth = new Int32Array(size).fill(-1)
  const anchor = new Int32Array(size)
  const entries = graph.entries.flatMap((id) => indexOf.has(id) ? [indexOf.get(id) as number] : [])
  if (entries.length > 0) {
    const queue = new Int32Array(size)
    let tail = 0
    for (const index of entries) {
      const first = 2 * index
      if (depth[first] !== -1) continue
      depth[first] = 0
      anchor[first] = first
      queue[tail++] = first
    }
    for (let head = 0; head < tail; head += 1) {
      const pair = queue[head] as number
      const held = (pair & 1) === 1
      const at = depth[pair] as number
      const from = ids[pair >> 1] as string
      for (const edge of graph.nodes.get(from)?.edges ?? []) {
        const target = indexOf.get(edge.target)
        if (target === undefined) continue
        const next = 2 * target + (carry(from, edge, held) ? 1 : 0)
        if (depth[next] !== -1) continue
        parent[next] = pair
        depth[next] = at + 1
        anchor[next] = at + 1 < PATH_ENDS ? next : (anchor[pair] as number)
        queue[tail++] = next
      }
    }
  }

  const entry = new Map<string, boolean>()
  ids.forEach((id, i) => {
    if (depth[2 * i] !== -1) entry.set(id, false)
    else if (depth[2 * i + 1] !== -1) entry.set(id, true)
  })

  /** Nodes from `pair` back `count` steps towards start, in path order. */
  const back = (pair: number, count: number): string[] => {
    const out: string[] = new Array<string>(count)
    for (let i = count - 1, at = pair; i >= 0; i -= 1, at = parent[at] as number) out[i] = ids[at >> 1] as string
    return out
  }

  return {
    entry,
    pathWithout (id) {
      const index = indexOf.get(id)
      const pair = index === undefined ? -1 : 2 * index
      if (pair === -1 || depth[pair] === -1) return { first: [id], omitted: 0, last: [] }
      const length = (depth[pair] as number) + 1
      if (length <= 2 * PATH_ENDS) return { first: back(pair, length), omitted: 0, last: [] }
      return {
        first: back(anchor[pair] as number, PATH_ENDS),
        omitted: length - 2 * PATH_ENDS,
        last: back(pair, PATH_ENDS),
      }
    },
  }
}
