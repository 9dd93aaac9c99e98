// The flow graph as the console draws it: nodes, labelled edges and the consent proof, derived
// by the same handlers and analysis the validator uses, so the picture cannot disagree with
// what saving and publishing enforce.
import { buildGraph, consentProof, reachable } from './graph.js'
import type { Edge } from './node-handler.js'
import { readShape } from './shape.js'

export interface GraphViewNode {
  id: string;
  type: string;
  /** Consent certainly granted on entry, whichever way the call came; null: not reached from start. */
  consentOnEntry: boolean | null;
}

export interface GraphViewEdge {
  from: string;
  to: string;
  /** The key pressed, the outcome ("granted", "closed", "no input"), or empty for a plain next. */
  label: string;
  /** Taking this edge proves the caller granted consent. */
  grantsConsent: boolean;
}

export interface GraphView {
  start: string;
  /** In definition order. */
  nodes: GraphViewNode[];
  /** Only edges between nodes of the graph; one naming no node is a validation problem instead. */
  edges: GraphViewEdge[];
}

function edgeLabel (edge: Edge): string {
  const [field, key] = edge.field
  if (field === 'options') return key ?? ''
  if (field === 'noInput') return 'no input'
  if (field === 'next') return ''
  return field ?? ''
}

/**
 * Nodes beyond which no view is given: a picture of more could not be read, and the view (about
 * 120 bytes a node with its edge) would make the validation answer grow with the flow.
 */
export const MAX_GRAPH_VIEW_NODES = 500

function nodeCount (def: unknown): number {
  const nodes = typeof def === 'object' && def !== null ? (def as { nodes?: unknown }).nodes : undefined
  return typeof nodes === 'object' && nodes !== null ? Object.keys(nodes).length : 0
}

/**
 * The view of a definition, or null when its shape is too broken to tell the graph (no start,
 * or some node unreadable: its edges, and so everything after it, are unknown) or when it has
 * more than MAX_GRAPH_VIEW_NODES nodes. A start that names no node still gives a view, in which
 * nothing is reached.
 */
export function graphView (def: unknown): GraphView | null {
  try {
    if (nodeCount(def) > MAX_GRAPH_VIEW_NODES) return null
    const shape = readShape(def)
    if (shape.incomplete || shape.start === undefined) return null
    const graph = buildGraph(shape.start, shape.nodes, shape.machine !== undefined && shape.nodes.has(shape.machine) ? shape.machine : undefined)
    const { entry } = consentProof(graph)
    const seen = reachable(graph)
    const nodes: GraphViewNode[] = []
    const edges: GraphViewEdge[] = []
    for (const [id, { node, edges: out }] of graph.nodes) {
      nodes.push({ id, type: node.type, consentOnEntry: seen.has(id) ? (entry.get(id) ?? null) : null })
      for (const edge of out) {
        if (!graph.nodes.has(edge.target)) continue
        edges.push({ from: id, to: edge.target, label: edgeLabel(edge), grantsConsent: edge.consent === true })
      }
    }
    return { start: graph.start, nodes, edges }
  } catch {
    // As in validateFlow: not reachable with JSON input, and a picture is not worth a 500.
    return null
  }
}
