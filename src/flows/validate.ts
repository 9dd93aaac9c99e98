// Save-time validation of a flow definition: every problem at once (up to MAX_PROBLEMS), each
// with a JSON pointer and a message an operations person can act on. Shape first (shape.ts),
// then each node type's own rules, then the rules over the whole graph (graph.ts). Every step is
// linear in nodes + edges, and messages quote paths and ids in bounded form, so the time and the
// answer grow with the definition and not with its square.
import { E164_PATTERN, type CampaignContext, type FlowDefinition } from './definition.js'
import { buildGraph, consentProof, cycleThrough, loops, mustProof, reachable, summarizePath, type FlowGraph, type PathSummary } from './graph.js'
import { isValidTimeZone, validateHours } from './hours.js'
import type { Edge } from './node-handler.js'
import { handlerFor } from './nodes/registry.js'
import { capProblems, pointer, quote, type Problem } from './problem.js'
import { readShape } from './shape.js'

export function validateFlow (def: unknown): Problem[] {
  try {
    return capProblems(collectProblems(def))
  } catch (err) {
    // Not reachable with JSON input; a cyclic or exotic object must still not pass as valid.
    return [{ path: '', message: `the flow could not be checked: ${err instanceof Error ? err.message : String(err)}` }]
  }
}

function collectProblems (def: unknown): Problem[] {
  const shape = readShape(def)
  const problems = [...shape.problems]
  if (shape.start !== undefined && shape.nodesRead && !shape.ids.has(shape.start)) {
    problems.push({ path: '/start', message: `start names no node ${quote(shape.start)}` })
  }
  for (const [id, node] of shape.nodes) {
    const handler = handlerFor(node)
    for (const edge of handler.edges(node)) {
      if (!shape.ids.has(edge.target)) {
        problems.push({ path: edgePath(id, edge), message: `${edgeLabel(edge)} names no node ${quote(edge.target)}` })
      }
    }
    for (const found of handler.check?.(node) ?? []) {
      problems.push({ path: pointer('nodes', id, ...found.field), message: found.message })
    }
  }
  if (shape.machine !== undefined && shape.nodesRead) {
    const entry = shape.nodes.get(shape.machine)
    if (entry === undefined) problems.push({ path: '/machine', message: `machine names no node ${quote(shape.machine)}` })
    else if (entry.type !== 'say' && entry.type !== 'play') problems.push({ path: '/machine', message: `machine must name a say or play node (a message saying who called and how to opt out), not a ${entry.type} node` })
  }
  if (shape.start === undefined || !shape.nodes.has(shape.start)) return problems
  const graph = buildGraph(shape.start, shape.nodes, shape.machine !== undefined && shape.nodes.has(shape.machine) ? shape.machine : undefined)
  // A malformed node's edges are unknown, so what it reaches cannot be told apart from
  // what nothing reaches.
  if (!shape.incomplete) problems.push(...unreachableNodes(graph))
  problems.push(...busyLoops(graph), ...silentLoops(graph), ...recordingWithoutConsent(graph))
  return problems
}

function edgePath (id: string, edge: Edge): string {
  return pointer('nodes', id, ...edge.field)
}

function edgeLabel (edge: Edge): string {
  return edge.field[0] === 'options' ? `option ${quote(edge.field[1] ?? '')}` : `"${edge.field[0]}"`
}

function unreachableNodes (graph: FlowGraph): Problem[] {
  const seen = reachable(graph)
  return [...graph.nodes.keys()]
    .filter((id) => !seen.has(id))
    .map((id) => ({ path: pointer('nodes', id), message: `node "${id}" is unreachable from start${graph.entries.length > 1 ? ' or machine' : ''}` }))
}

/** An edge of `id` that stays inside the loop; every member of a loop has one. */
function edgeInLoop (graph: FlowGraph, id: string, members: string[], follow: (edge: Edge) => boolean): Edge {
  const within = new Set(members)
  return graph.nodes.get(id)?.edges.find((e) => follow(e) && within.has(e.target)) as Edge
}

/** Twilio would re-request these forever (until the step guard), never pausing for the caller. */
function busyLoops (graph: FlowGraph): Problem[] {
  const follow = (edge: Edge): boolean => !edge.waits
  return loops(graph, follow).map((members) => {
    const id = members[0] as string
    const edge = edgeInLoop(graph, id, members, follow)
    const cycle = cycleThrough(graph, id, new Set(members), follow)
    return {
      path: edgePath(id, edge),
      message: `loop without waiting for caller input: ${showPath(summarizePath(cycle))} (put a menu, consent or dial in it, or end it)`,
    }
  })
}

/**
 * A menu or consent whose no-input path comes back round to it traps a silent caller (or an
 * answering machine) for ever: their retries run out and start again. Dial `next` edges count
 * too, since a call nobody answers goes on there without any key press.
 */
function silentLoops (graph: FlowGraph): Problem[] {
  const follow = (edge: Edge): boolean => edge.silent
  const problems: Problem[] = []
  for (const members of loops(graph, follow)) {
    // Loops of nodes that never wait are busyLoops' to report.
    const waiting = members.filter((id) => graph.nodes.get(id)?.waits === true)
    const id = waiting[0]
    if (id === undefined) continue
    const edge = edgeInLoop(graph, id, members, follow)
    const cycle = cycleThrough(graph, id, new Set(members), follow)
    problems.push({
      path: edgePath(id, edge),
      message: `a caller who presses nothing goes round this loop for ever: ${showPath(summarizePath(cycle))}; let the no-input path lead out of it`,
    })
  }
  return problems
}

/** A path as "a → b → c", or "a → b → … 96 more … → y → z" when it is long. */
function showPath ({ first, omitted, last }: PathSummary): string {
  const gap = omitted === 0 ? [] : [`… ${omitted} more …`]
  return [...first, ...gap, ...last].join(' → ')
}

function recordingWithoutConsent (graph: FlowGraph): Problem[] {
  const proof = consentProof(graph)
  const problems: Problem[] = []
  for (const [id, { node }] of graph.nodes) {
    if (node.type !== 'record' || proof.entry.get(id) !== false) continue
    problems.push({
      path: pointer('nodes', id),
      message: `recording without consent: the path ${showPath(proof.pathWithout(id))} reaches this record node without passing a consent node's "granted" edge`,
    })
  }
  return problems
}

/**
 * The proof a flow must pass to be a campaign's dialler flow (run when the callee answers): on
 * every path from start to a dial (a transfer) or to the end of the call, the callee has been
 * offered a way to refuse: a menu with an option from which an optout node can be reached.
 * One pass over (node, offered) pairs, as the consent proof; each problem names a path without
 * the offer. Run on a flow that validateFlow passes.
 */
export function checkOutboundFlow (def: FlowDefinition): Problem[] {
  const graph = buildGraph(def.start, new Map(Object.entries(def.nodes)))
  // Nodes from which an optout node can be reached: walked backwards from every optout.
  const into = new Map<string, string[]>()
  for (const [id, { edges }] of graph.nodes) for (const e of edges) into.set(e.target, [...(into.get(e.target) ?? []), id])
  const leadsToOptout = new Set([...graph.nodes].filter(([, n]) => n.node.type === 'optout').map(([id]) => id))
  const queue = [...leadsToOptout]
  for (let i = 0; i < queue.length; i += 1) {
    for (const from of into.get(queue[i] as string) ?? []) {
      if (!leadsToOptout.has(from)) { leadsToOptout.add(from); queue.push(from) }
    }
  }
  const offers = new Set([...graph.nodes].filter(([, n]) => n.node.type === 'menu' && n.edges.some((e) => e.field[0] === 'options' && leadsToOptout.has(e.target))).map(([id]) => id))
  const proof = mustProof(graph, (from, _edge, held) => held || offers.has(from))
  const problems: Problem[] = []
  for (const [id, { node, edges }] of graph.nodes) {
    const ends = node.type === 'dial' || (edges.length === 0 && node.type !== 'optout')
    if (!ends || proof.entry.get(id) !== false) continue
    problems.push({
      path: pointer('nodes', id),
      message: `outbound call without a way to refuse: the path ${showPath(proof.pathWithout(id))} reaches this ${node.type} node without passing a menu with an option that leads to an optout node`,
    })
  }
  return capProblems(problems)
}

export interface FlowRequirements {
  /** Some dial node calls the campaign's switchboard. */
  needsSwitchboard: boolean;
  /** Some hours node reads the campaign's opening hours. */
  needsHours: boolean;
}

export function requirementsOf (def: FlowDefinition): FlowRequirements {
  const nodes = Object.values(def.nodes)
  return {
    needsSwitchboard: nodes.some((node) => node.type === 'dial' && node.to === 'switchboard'),
    needsHours: nodes.some((node) => node.type === 'hours'),
  }
}

/** Publish-time check of a valid flow against the campaign it will run for. */
export function checkAgainstCampaign (
  def: FlowDefinition,
  campaign: Pick<CampaignContext, 'switchboard' | 'hours' | 'timezone'>
): Problem[] {
  const problems: Problem[] = []
  const hasSwitchboard = typeof campaign.switchboard === 'string' && E164_PATTERN.test(campaign.switchboard)
  const hoursUsable =
    isValidTimeZone(campaign.timezone) &&
    validateHours(campaign.hours, '/hours').length === 0 &&
    Object.values(campaign.hours ?? {}).some((day) => Array.isArray(day) && day.length > 0)
  for (const [id, node] of Object.entries(def.nodes)) {
    if (node.type === 'dial' && node.to === 'switchboard' && !hasSwitchboard) {
      problems.push({ path: pointer('nodes', id, 'to'), message: 'dial to switchboard needs a campaign switchboard' })
    }
    if (node.type === 'hours' && !hoursUsable) {
      problems.push({
        path: pointer('nodes', id),
        message: 'hours node needs campaign hours (at least one valid interval and a valid timezone)',
      })
    }
  }
  return problems
}
