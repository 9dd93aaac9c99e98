// First pass of validation: the JSON shape. Each node is checked against the schema of its own
// `type` rather than the whole union, so a mistake in a menu is reported as a menu mistake and
// not as "matches none of ten schemas".
import { Value } from 'typebox/value';
import { NODE_TYPES, NodeSchemas, isNodeType, type FlowNode } from './definition.js';
import { pointer, type Problem } from './problem.js';

/** Node ids appear in callback URLs and logs; keep them plain. */
const NODE_ID = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;
const EDGE_FIELDS = new Set(['next', 'granted', 'denied', 'open', 'closed']);

export interface Shape {
  problems: Problem[];
  /** The start node id, when it is a string. */
  start: string | undefined;
  /** Nodes whose shape is right, by id, in definition order. */
  nodes: Map<string, FlowNode>;
  /** Ids of every node, including the malformed ones. */
  ids: Set<string>;
  /** `nodes` is an object, so `ids` lists every node. */
  nodesRead: boolean;
  /** Some node could not be read, so its edges (and what they reach) are unknown. */
  incomplete: boolean;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function readShape(def: unknown): Shape {
  const shape: Shape = { problems: [], start: undefined, nodes: new Map(), ids: new Set(), nodesRead: false, incomplete: false };
  const problems = shape.problems;
  if (!isPlainObject(def)) {
    problems.push({ path: '', message: 'a flow definition must be a JSON object { "start": …, "nodes": { … } }' });
    shape.incomplete = true;
    return shape;
  }
  for (const key of Object.keys(def)) {
    if (key !== 'start' && key !== 'nodes') {
      problems.push({ path: pointer(key), message: `unknown property "${key}": a flow has only "start" and "nodes"` });
    }
  }
  if (!Object.hasOwn(def, 'start')) {
    problems.push({ path: '/start', message: 'start is missing: name the node the call begins at' });
  } else if (typeof def.start !== 'string' || def.start === '') {
    problems.push({ path: '/start', message: 'start must be the id of a node' });
  } else {
    shape.start = def.start;
  }
  if (!Object.hasOwn(def, 'nodes')) {
    problems.push({ path: '/nodes', message: 'nodes is missing: give an object of node id → node' });
    shape.incomplete = true;
  } else if (!isPlainObject(def.nodes)) {
    problems.push({ path: '/nodes', message: 'nodes must be an object of node id → node' });
    shape.incomplete = true;
  } else {
    shape.nodesRead = true;
    for (const [id, node] of Object.entries(def.nodes)) readNode(shape, id, node);
  }
  return shape;
}

function readNode(shape: Shape, id: string, node: unknown): void {
  const path = pointer('nodes', id);
  shape.ids.add(id);
  if (!NODE_ID.test(id)) {
    shape.problems.push({
      path,
      message: `invalid node id "${id}": use up to 64 letters, digits, _ or -, starting with a letter`,
    });
  }
  if (!isPlainObject(node)) {
    shape.problems.push({ path, message: 'a node must be an object with a "type"' });
    shape.incomplete = true;
    return;
  }
  if (!isNodeType(node.type)) {
    const given = node.type === undefined ? 'missing node type' : `unknown node type ${JSON.stringify(node.type)}`;
    shape.problems.push({ path: path + '/type', message: `${given}: expected one of ${NODE_TYPES.join(', ')}` });
    shape.incomplete = true;
    return;
  }
  const type = node.type;
  const errors = Value.Errors(NodeSchemas[type], node);
  if (errors.length === 0) {
    shape.nodes.set(id, node as FlowNode);
    return;
  }
  shape.incomplete = true;
  for (const error of errors) shape.problems.push(...describe(type, path, error));
}

interface SchemaError {
  keyword: string;
  instancePath: string;
  params: Record<string, unknown>;
  message: string;
}

function describe(type: string, nodePath: string, error: SchemaError): Problem[] {
  const at = nodePath + error.instancePath;
  switch (error.keyword) {
    case 'required':
      return stringList(error.params.requiredProperties).map((field) => ({
        path: at + pointer(field),
        message: missingField(type, field),
      }));
    case 'additionalProperties':
      return stringList(error.params.additionalProperties).map((field) => ({
        path: at + pointer(field),
        message: `unknown property "${field}" for a ${type} node`,
      }));
    // With additionalProperties: false TypeBox also reports each extra property as a failed
    // `false` schema; the additionalProperties entry above already names them.
    case 'boolean':
      return [];
    case 'const':
      return [{ path: at, message: `must be ${JSON.stringify(error.params.allowedValue)}` }];
    case 'minLength':
      return [{ path: at, message: error.params.limit === 1 ? 'must not be empty' : error.message }];
    default:
      return [{ path: at, message: error.message }];
  }
}

function missingField(type: string, field: string): string {
  if (field === 'noInput') {
    return `${type} has no no-input path: set "noInput" to the node a caller goes to after pressing nothing (or nothing valid)`;
  }
  if (EDGE_FIELDS.has(field)) return `missing target "${field}": name the node the ${type} node goes to`;
  return `"${field}" is required for a ${type} node`;
}

function stringList(value: unknown): string[] {
  return Array.isArray(value) ? value.map(String) : [];
}
