import { lookup as dnsLookup } from 'node:dns'
import { BlockList, isIP, type LookupFunction } from 'node:net'

// Where an endpoint may not be: a customer's URL must not make this server reach its own
// network (SSRF). Checked at registration and again on every delivery, after DNS resolution and
// on the very address connected to, so a name re-pointed later (DNS rebinding) gains nothing.
const blocked = new BlockList()
for (const [net, prefix] of [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12],
  ['192.0.0.0', 24], ['192.0.2.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15], ['198.51.100.0', 24], ['203.0.113.0', 24],
  ['224.0.0.0', 4], ['240.0.0.0', 4]
] as const) blocked.addSubnet(net, prefix, 'ipv4')
for (const [net, prefix] of [
  ['::', 128], ['::1', 128], ['fc00::', 7], ['fe80::', 10], ['ff00::', 8], ['64:ff9b::', 96], ['2001:db8::', 32]
] as const) blocked.addSubnet(net, prefix, 'ipv6')

/** Loopback, private, link-local, shared, documentation, multicast or reserved. */
export function isPrivateAddress (address: string): boolean {
  const family = isIP(address)
  if (family === 4) return blocked.check(address, 'ipv4')
  if (family !== 6) return true
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)
  if (mapped !== null) return blocked.check(mapped[1]!, 'ipv4')
  return blocked.check(address, 'ipv6')
}

/** Why `url` may not be an endpoint (null: it may). Does not resolve names: see `resolvesPublic`. */
export function urlProblem (url: string): string | null {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    return 'is not a URL'
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') return 'must be http or https'
  if (parsed.username !== '' || parsed.password !== '') return 'must not carry credentials'
  if (parsed.hash !== '') return 'must not have a fragment'
  return null
}

export class PrivateAddress extends Error {
  readonly code = 'CG_PRIVATE_ADDRESS'
  constructor (host: string, address: string) {
    super(`${host} is at ${address}, a loopback, private or reserved address (allowed only with WEBHOOK_ALLOW_PRIVATE=true)`)
  }
}

const hostOf = (url: URL) => url.hostname.replace(/^\[(.*)\]$/, '$1')

/** Resolves the URL's host and throws PrivateAddress if any address it has is not public. */
export async function assertPublic (url: string): Promise<void> {
  const host = hostOf(new URL(url))
  const addresses = isIP(host) !== 0
    ? [host]
    : (await new Promise<Array<{ address: string }>>((resolve, reject) => {
        dnsLookup(host, { all: true }, (err, found) => { if (err !== null) reject(err); else resolve(found) })
      })).map((a) => a.address)
  const bad = addresses.find(isPrivateAddress)
  if (bad !== undefined) throw new PrivateAddress(host, bad)
}

/** A `lookup` for node:http that refuses to hand a non-public address to the connection. */
export const publicLookup: LookupFunction = (hostname, options, callback) => {
  dnsLookup(hostname, { ...options, all: true }, (err, found) => {
    if (err !== null) { callback(err, '', 0); return }
    const bad = found.find((a) => isPrivateAddress(a.address))
    if (bad !== undefined) { callback(new PrivateAddress(hostname, bad.address), '', 0); return }
    if (options.all === true) (callback as unknown as (e: null, a: typeof found) => void)(null, found)
    else callback(null, found[0]!.address, found[0]!.family)
  })
}
