// The one way the console talks to the server: JSON over fetch with the API key as a bearer
// token. The key lives in sessionStorage (gone when the tab closes) and never in a URL.
const KEY = 'callgate.apiKey'
const TENANT = 'callgate.tenantId'

export interface Problem { path: string, message: string }

export class ApiError extends Error {
  constructor (readonly status: number, message: string, readonly problems: Problem[] = [], readonly code?: string) {
    super(message)
  }
}

export const session = {
  key: (): string | null => sessionStorage.getItem(KEY),
  signIn: (key: string) => { sessionStorage.setItem(KEY, key) },
  signOut: () => { sessionStorage.removeItem(KEY); sessionStorage.removeItem(TENANT) },
  /** The tenant an admin picked to work in (the admin token belongs to none). */
  tenant: (): string | null => sessionStorage.getItem(TENANT),
  pickTenant: (id: string | null) => { if (id === null) sessionStorage.removeItem(TENANT); else sessionStorage.setItem(TENANT, id) }
}

function headers (extra: Record<string, string> = {}): Record<string, string> {
  const key = session.key()
  return { ...(key === null ? {} : { authorization: `Bearer ${key}` }), ...extra }
}

async function failure (res: Response): Promise<ApiError> {
  const body = await res.json().catch(() => null) as { message?: string, problems?: Problem[], code?: string } | null
  return new ApiError(res.status, body?.message ?? `${res.status} ${res.statusText}`, body?.problems ?? [], body?.code)
}

export async function api<T> (method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(`/api${path}`, {
    method,
    headers: headers(body === undefined ? {} : { 'content-type': 'application/json' }),
    ...(body === undefined ? {} : { body: JSON.stringify(body) })
  })
  if (!res.ok) throw await failure(res)
  return (res.status === 204 ? null : await res.json()) as T
}

/**
 * What names the tenant in a request: nothing for a tenant's own user (the server knows it), the
 * picked tenant's id for an admin — as body/tenantId or querystring/tenantId, whichever the route reads.
 */
export function tenantParam (me: Me, tenant: string | null): { tenantId?: string } {
  return me.role === 'admin' && tenant !== null ? { tenantId: tenant } : {}
}

/** Query strings carry filters only, never the key. */
export function query (params: Record<string, string | number | undefined>): string {
  const q = new URLSearchParams()
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, String(v))
  const s = q.toString()
  return s === '' ? '' : `?${s}`
}

/**
 * Sends a file as text/csv and reports upload progress: fetch cannot report it, XMLHttpRequest
 * can (its upload "progress" events).
 */
export function uploadCsv<T> (path: string, file: Blob, onProgress: (sent: number, total: number) => void): Promise<T> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest()
    xhr.open('POST', `/api${path}`)
    for (const [k, v] of Object.entries(headers({ 'content-type': 'text/csv' }))) xhr.setRequestHeader(k, v)
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) onProgress(e.loaded, e.total) }
    xhr.onload = () => {
      const body = (() => { try { return JSON.parse(xhr.responseText) } catch { return null } })()
      if (xhr.status >= 200 && xhr.status < 300) { onProgress(file.size, file.size); resolve(body as T) } else reject(new ApiError(xhr.status, body?.message ?? `${xhr.status}`))
    }
    xhr.onerror = () => reject(new ApiError(0, 'the upload failed (network)'))
    xhr.send(file)
  })
}

export interface Tenant { id: string, name: string, createdAt: string, offboardingSince: string | null }
export interface Me { userId: string | null, tenantId: string | null, role: 'admin' | 'ops' | 'agent' | 'controller', actor: string, name: string | null }
export interface Flow { id: string, tenantId: string, campaignId: string, name: string, publishedVersion: number | null, createdAt: string }
export interface VersionSummary { version: number, createdBy: string | null, createdAt: string, publishedAt: string | null, publishedBy: string | null }
export interface VersionListItem extends VersionSummary { createdByName: string | null, publishedByName: string | null }
export interface Version extends VersionSummary { definition: unknown }
/** The graph the server reads from a definition (POST /api/flows/validate): the console only draws it. */
export interface FlowGraph {
  start: string
  nodes: Array<{ id: string, type: string, consentOnEntry: boolean | null }>
  edges: Array<{ from: string, to: string, label: string, grantsConsent: boolean }>
}
export interface Validation { valid: boolean, problems: Problem[], publishProblems: Problem[], graph: FlowGraph | null }
export interface Campaign {
  id: string
  name: string
  timezone: string
  hours: Record<string, Array<[string, string]>>
  holidays: string[]
  switchboard: string | null
  retention: { recordingsDays: number, callLogDays: number, redactAfterDays: number }
  lawfulBasis: string
  lia: { purpose: string, necessity: string, balancing: string } | null
  [k: string]: unknown
}
