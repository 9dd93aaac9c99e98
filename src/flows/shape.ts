// First pass of validation: the JSON shape. Each node is checked against the schema of its own
// `type` rather than the whole union, so a mistake in a menu is reported as a menu mistake and
// not as "matches none of ten schemas".
import { Compile } from 'typebox/compile'
import { MAX_ID_LENGTH, MAX_MENU_OPTIONS, MAX_NODES, NODE_TYPES, NodeSchemas, isNodeType, type FlowNode, type NodeType } from './definition.js'
import { pointer, quote, type Problem } from './problem.js'

/** Node ids appear in callback URLs and logs; keep them plain. */
const NODE_ID = new RegExp(`^[A-Za-z][A-Za-z0-9_-]{0,${MAX_ID_LENGTH - 1}}$`)
const EDGE_FIELDS = new Set(['next', 'granted', 'denied', 'open', 'closed'])

// Compiled once: checking a node this way costs about a microsecond, where Value.Errors
// interprets the schema every time (milliseconds for a flow of thousands of nodes).
const nodeValidators = Object.fromEntries(NODE_TYPES.map((type) => [type, Compile(NodeSchemas[type])])) as {
  [T in NodeType]: ReturnType<typeof Compile<(typeof NodeSchemas)[T]>>;
}

export interface Shape {
  problems: Problem[];
  /** The start node id, when it is a string. */
  start: string | undefined;
  /** The node an answering machine begins at, when it is a string. */
  machine: string | undefined;
  /** Nodes whose shape is right, by id, in definition order. */
  nodes: Map<string, FlowNode>;
  /** Ids of every node, including the malformed ones. */
  ids: Set<string>;
  /** `nodes` is an object, so `ids` lists every node. */
  nodesRead: boolean;
  /** Some node could not be read, so its edges (and what they reach) are unknown. */
  incomplete: boolean;
}

function isPlainObject (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

export function readShape (def: unknown): Shape {
  const shape: Shape = { problems: [], start: undefined, machine: undefined, nodes: new Map(), ids: new Set(), nodesRead: false, incomplete: false }
  const problems = shape.problems
  if (!isPlainObject(def)) {
    problems.push({ path: '', message: 'a flow definition must be a JSON object { "start": …, "nodes": { … } }' })
    shape.incomplete = true
    return shape
  }
  for (const key of Object.keys(def)) {
    if (key !== 'start' && key !== 'nodes' && key !== 'machine') {
      problems.push({ path: pointer(key), message: `unknown property ${quote(key)}: a flow has only "start", "machine" and "nodes"` })
    }
  }
  if (!Object.hasOwn(def, 'start')) {
    problems.push({ path: '/start', message: 'start is missing: name the node the call begins at' })
  } else if (typeof def.start !== 'string' || def.start === '') {
    problems.push({ path: '/start', message: 'start must be the id of a node' })
  } else {
    shape.start = def.start
  }
  if (Object.hasOwn(def, 'machine')) {
    if (typeof def.machine !== 'string' || def.machine === '') problems.push({ path: '/machine', message: 'machine must be the id of a node' })
    else shape.machine = def.machine
  }
  if (!Object.hasOwn(def, 'nodes')) {
    problems.push({ path: '/nodes', message: 'nodes is missing: give an object of node id → node' })
    shape.incomplete = true
  } else if (!isPlainObject(def.nodes)) {
    problems.push({ path: '/nodes', message: 'nodes must be an object of node id → node' })
    shape.incomplete = true
  } else if (Object.keys(def.nodes).length > MAX_NODES) {
    // Not read at all: the limit is there so that an oversized flow costs nothing more.
    const count = Object.keys(def.nodes).length
    problems.push({ path: '/nodes', message: `too many nodes: ${count.toLocaleString('en')}; a flow has at most ${MAX_NODES.toLocaleString('en')}` })
    shape.incomplete = true
  } else {
    shape.nodesRead = true
    for (const [id, node] of Object.entries(def.nodes)) readNode(shape, id, node)
  }
  return shape
}

function readNode (shape: Shape, id: string, node: unknown): void {
  const path = pointer('nodes', id)
  shape.ids.add(id)
  if (id.length > MAX_ID_LENGTH) {
    // Every problem of this node would carry the id in its path: one problem, and the node
    // (and what it leads to) is left unread.
    shape.problems.push({ path, message: `node id ${quote(id)} is ${id.length} characters long: at most ${MAX_ID_LENGTH} are allowed` })
    shape.incomplete = true
    return
  }
  if (!NODE_ID.test(id)) {
    shape.problems.push({
      path,
      message: `invalid node id ${quote(id)}: use up to ${MAX_ID_LENGTH} letters, digits, _ or -, starting with a letter`,
    })
  }
  if (!isPlainObject(node)) {
    shape.problems.push({ path, message: 'a node must be an object with a "type"' })
    shape.incomplete = true
    return
  }
  if (!isNodeType(node.type)) {
    const given = node.type === undefined ? 'missing node type' : `unknown node type ${shown(node.type)}`
    shape.problems.push({ path: path + '/type', message: `${given}: expected one of ${NODE_TYPES.join(', ')}` })
    shape.incomplete = true
    return
  }
  const type = node.type
  const validator = nodeValidators[type]
  if (validator.Check(node)) {
    shape.nodes.set(id, node as FlowNode)
    return
  }
  shape.incomplete = true
  for (const error of validator.Errors(node)) shape.problems.push(...describe(type, path, error))
}

interface SchemaError {
  keyword: string;
  instancePath: string;
  params: Record<string, unknown>;
  message: string;
}

function describe (type: string, nodePath: string, error: SchemaError): Problem[] {
  const at = nodePath + error.instancePath
  switch (error.keyword) {
    case 'required':
      return stringList(error.params.requiredProperties).map((field) => ({
        path: at + pointer(field),
        message: missingField(type, field),
      }))
    case 'additionalProperties':
      return stringList(error.params.additionalProperties).map((field) => ({
        path: at + pointer(field),
        message: `unknown property ${quote(field)} for a ${type} node`,
      }))
    // With additionalProperties: false TypeBox also reports each extra property as a failed
    // `false` schema; the additionalProperties entry above already names them.
    case 'boolean':
      return []
    case 'const':
      return [{ path: at, message: `must be ${JSON.stringify(error.params.allowedValue)}` }]
    case 'minLength':
      return [{ path: at, message: error.params.limit === 1 ? 'must not be empty' : error.message }]
    case 'maxProperties':
      return [{
        path: at,
        message: error.instancePath === '/options'
          ? `a menu has at most ${MAX_MENU_OPTIONS} options, one per key (0-9, * and #)`
          : error.message,
      }]
    default:
      return [{ path: at, message: error.message }]
  }
}

function missingField (type: string, field: string): string {
  if (field === 'noInput') {
    return `${type} has no no-input path: set "noInput" to the node a caller goes to after pressing nothing (or nothing valid)`
  }
  if (EDGE_FIELDS.has(field)) return `missing target "${field}": name the node the ${type} node goes to`
  return `"${field}" is required for a ${type} node`
}

/** A JSON value in a message, cut short as quote() cuts strings. */
function shown (value: unknown): string {
  const text = JSON.stringify(value) ?? String(value)
  return text.length <= 64 ? text : `${text.slice(0, 64)}…`
}

function stringList (value: unknown): string[] {
  return Array.isArray(value) ? value.map(String) : []
}
