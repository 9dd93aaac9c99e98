import type { Role } from '../db/schema.js'
import { BadRequest, Forbidden } from '../errors.js'

/** Who is calling the API. The bootstrap admin token has no user row and no tenant. */
export interface Principal {
  userId: string | null
  tenantId: string | null
  role: Role
  /** Stable name for the audit log: "user:<id>" or "admin-token". */
  actor: string
}

export function requireRole (principal: Principal, ...roles: Role[]): void {
  if (principal.role === 'admin') return
  if (!roles.includes(principal.role)) {
    throw new Forbidden(`role ${principal.role} may not do this (needs ${['admin', ...roles].join(' or ')})`)
  }
}

/**
 * The tenant a read is limited to: null means every tenant (admin only). Rows outside it are
 * reported as missing, so one tenant cannot even learn that another's object exists.
 */
export function readScope (principal: Principal): string | null {
  return principal.role === 'admin' ? null : principal.tenantId
}

/**
 * The one tenant a request works in: the caller's own, or for an admin the one it names in
 * `field` (body/tenantId, querystring/tenantId).
 */
export function writeTenant (principal: Principal, requested: string | undefined, field = 'body/tenantId'): string {
  if (principal.role === 'admin') {
    if (requested === undefined) throw new BadRequest(`${field} is required for an admin`)
    return requested
  }
  if (requested !== undefined && requested !== principal.tenantId) {
    throw new Forbidden(`${field} must be your own tenant`)
  }
  return principal.tenantId as string
}
