import type { Edge } from '../node-handler.js'

/** The single `next` edge of a node that does not wait for the caller. */
export function nextEdge (next: string | undefined): Edge[] {
  return next === undefined ? [] : [{ field: ['next'], target: next, waits: false, silent: true }]
}
