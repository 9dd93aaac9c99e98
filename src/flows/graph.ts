// The flow as a directed graph, and the analyses validate.ts runs on it. Edges come from each
// node type's handler, so the validator and the engine agree on what a node can do next.
import type { FlowNode } from './definition.js';
import type { Edge } from './node-handler.js';
import { handlerFor } from './nodes/registry.js';

export interface GraphNode {
  node: FlowNode;
  waits: boolean;
  edges: Edge[];
}

export interface FlowGraph {
  start: string;
  /** In definition order, which keeps every report deterministic. */
  nodes: Map<string, GraphNode>;
}

export type EdgeFilter = (edge: Edge) => boolean;

export function buildGraph(start: string, nodes: Map<string, FlowNode>): FlowGraph {
  const graph: FlowGraph = { start, nodes: new Map() };
  for (const [id, node] of nodes) {
    const handler = handlerFor(node);
    graph.nodes.set(id, { node, waits: handler.waits, edges: handler.edges(node) });
  }
  return graph;
}

/** Successors along the chosen edges that are nodes of the graph. */
function successors(graph: FlowGraph, id: string, follow: EdgeFilter): string[] {
  const edges = graph.nodes.get(id)?.edges ?? [];
  return edges.filter((e) => follow(e) && graph.nodes.has(e.target)).map((e) => e.target);
}

export function reachable(graph: FlowGraph): Set<string> {
  const seen = new Set<string>();
  if (!graph.nodes.has(graph.start)) return seen;
  const queue = [graph.start];
  seen.add(graph.start);
  for (let i = 0; i < queue.length; i += 1) {
    for (const next of successors(graph, queue[i] as string, () => true)) {
      if (!seen.has(next)) {
        seen.add(next);
        queue.push(next);
      }
    }
  }
  return seen;
}

/**
 * Strongly connected components along the chosen edges that contain a cycle (more than one
 * node, or a node with an edge to itself). Tarjan's algorithm, iterative so that a long chain
 * of nodes cannot overflow the stack.
 */
export function loops(graph: FlowGraph, follow: EdgeFilter): string[][] {
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const lowOf = (id: string): number => low.get(id) as number;

  for (const root of graph.nodes.keys()) {
    if (index.has(root)) continue;
    const work: Array<{ id: string; next: number; succ: string[] }> = [];
    const open = (id: string): void => {
      index.set(id, counter);
      low.set(id, counter);
      counter += 1;
      stack.push(id);
      onStack.add(id);
      work.push({ id, next: 0, succ: successors(graph, id, follow) });
    };
    open(root);
    while (work.length > 0) {
      const frame = work[work.length - 1] as (typeof work)[number];
      if (frame.next < frame.succ.length) {
        const to = frame.succ[frame.next] as string;
        frame.next += 1;
        if (!index.has(to)) open(to);
        else if (onStack.has(to)) low.set(frame.id, Math.min(lowOf(frame.id), index.get(to) as number));
        continue;
      }
      work.pop();
      const parent = work[work.length - 1];
      if (parent !== undefined) low.set(parent.id, Math.min(lowOf(parent.id), lowOf(frame.id)));
      if (lowOf(frame.id) !== index.get(frame.id)) continue;
      const component: string[] = [];
      let member: string;
      do {
        member = stack.pop() as string;
        onStack.delete(member);
        component.push(member);
      } while (member !== frame.id);
      if (component.length > 1 || frame.succ.includes(frame.id)) found.push(inGraphOrder(graph, component));
    }
  }
  return found;
}

function inGraphOrder(graph: FlowGraph, ids: string[]): string[] {
  const set = new Set(ids);
  return [...graph.nodes.keys()].filter((id) => set.has(id));
}

/** A shortest cycle from `from` back to itself, staying inside `within`. */
export function cycleThrough(graph: FlowGraph, from: string, within: Set<string>, follow: EdgeFilter): string[] {
  const parent = new Map<string, string>();
  const queue = [from];
  for (let i = 0; i < queue.length; i += 1) {
    const id = queue[i] as string;
    for (const next of successors(graph, id, follow)) {
      if (!within.has(next)) continue;
      if (next === from) return [...pathTo(parent, id, from), from];
      if (!parent.has(next)) {
        parent.set(next, id);
        queue.push(next);
      }
    }
  }
  return [from];
}

function pathTo(parent: Map<string, string>, id: string, root: string): string[] {
  const path = [id];
  for (let at = id; at !== root; ) {
    at = parent.get(at) as string;
    path.unshift(at);
  }
  return path;
}

/**
 * The compliance proof: for every node, whether consent has certainly been granted on entry,
 * whichever path the call took. A forward "must" dataflow analysis: the value at start is
 * false; along an edge it is the edge's own verdict (a consent node's granted edge: true, its
 * denied and noInput edges: false) or else the value at the edge's source; at a join it is the
 * AND over the incoming edges. Values only fall from true to false, so the worklist ends.
 * Nodes not reached from start are absent.
 */
export function consentOnEntry(graph: FlowGraph): Map<string, boolean> {
  const entry = new Map<string, boolean>();
  if (!graph.nodes.has(graph.start)) return entry;
  entry.set(graph.start, false);
  const work = [graph.start];
  while (work.length > 0) {
    const id = work.pop() as string;
    const here = entry.get(id) as boolean;
    for (const edge of graph.nodes.get(id)?.edges ?? []) {
      if (!graph.nodes.has(edge.target)) continue;
      const out = edge.consent ?? here;
      const before = entry.get(edge.target);
      const after = before === undefined ? out : before && out;
      if (after !== before) {
        entry.set(edge.target, after);
        work.push(edge.target);
      }
    }
  }
  return entry;
}

/**
 * A path from start to `target` along which consent was never granted (or was withdrawn), for
 * the problem message: a breadth-first search over (node, consent) pairs.
 */
export function pathWithoutConsent(graph: FlowGraph, target: string): string[] {
  const key = (id: string, granted: boolean): string => `${granted ? 1 : 0}:${id}`;
  const parent = new Map<string, string>();
  const startKey = key(graph.start, false);
  const queue: Array<[string, boolean]> = [[graph.start, false]];
  const seen = new Set([startKey]);
  for (let i = 0; i < queue.length; i += 1) {
    const [id, granted] = queue[i] as [string, boolean];
    if (id === target && !granted) {
      return pathTo(parent, key(id, granted), startKey).map((k) => k.slice(2));
    }
    for (const edge of graph.nodes.get(id)?.edges ?? []) {
      if (!graph.nodes.has(edge.target)) continue;
      const next = key(edge.target, edge.consent ?? granted);
      if (seen.has(next)) continue;
      seen.add(next);
      parent.set(next, key(id, granted));
      queue.push([edge.target, edge.consent ?? granted]);
    }
  }
  return [target];
}
