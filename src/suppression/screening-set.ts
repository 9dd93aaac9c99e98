/**
 * Everything a bulk screening needs to know about a tenant's lists, held in memory for the length
 * of one screening: each listed hash's first 64 bits (hi, lo) in ascending order with its verdict
 * bits. Backed by SharedArrayBuffers, so the worker threads that hash the numbers read one copy.
 *
 * 9 bytes a listed number: a million-entry register is 9 MB. Matching on 64 of the 256 bits can in
 * principle confuse two numbers; with a keyed hash the chance for one number against a list of n
 * is n / 2^64 (about 5 × 10^-14 for a million), and it errs towards not calling.
 */
export interface ScreeningSet { hi: Uint32Array, lo: Uint32Array, flags: Uint8Array }

/** A list's entries: 64-bit keys as (hi, lo) and their verdict bits, in ascending key order. */
export interface KeyList { hi: Uint32Array, lo: Uint32Array, bits: Uint8Array }

/**
 * A list from the database's form (16 hex digits a key, one digit of bits each), in ascending key
 * order: as it comes, or sorted if it did not.
 */
export function keyList (keysHex: string, bits: string): KeyList {
  const bytes = Buffer.from(keysHex, 'hex')
  const n = bits.length
  if (bytes.length !== n * 8) throw new Error(`listed keys and bits differ in length (${bytes.length / 8} against ${n})`)
  const list: KeyList = { hi: new Uint32Array(n), lo: new Uint32Array(n), bits: new Uint8Array(n) }
  let sorted = true
  for (let i = 0, o = 0; i < n; i++, o += 8) {
    const h = ((bytes[o]! << 24) | (bytes[o + 1]! << 16) | (bytes[o + 2]! << 8) | bytes[o + 3]!) >>> 0
    const l = ((bytes[o + 4]! << 24) | (bytes[o + 5]! << 16) | (bytes[o + 6]! << 8) | bytes[o + 7]!) >>> 0
    list.hi[i] = h
    list.lo[i] = l
    list.bits[i] = bits.charCodeAt(i) - 48
    if (i > 0 && (h < list.hi[i - 1]! || (h === list.hi[i - 1]! && l < list.lo[i - 1]!))) sorted = false
  }
  if (sorted) return list
  const order = Array.from({ length: n }, (_, i) => i).sort((x, y) => (list.hi[x]! - list.hi[y]!) || (list.lo[x]! - list.lo[y]!))
  return { hi: Uint32Array.from(order, (i) => list.hi[i]!), lo: Uint32Array.from(order, (i) => list.lo[i]!), bits: Uint8Array.from(order, (i) => list.bits[i]!) }
}

/** Lists that follow one another in key order, as one. */
export function concat (parts: KeyList[]): KeyList {
  const n = parts.reduce((sum, part) => sum + part.bits.length, 0)
  const list: KeyList = { hi: new Uint32Array(n), lo: new Uint32Array(n), bits: new Uint8Array(n) }
  let at = 0
  for (const part of parts) {
    list.hi.set(part.hi, at)
    list.lo.set(part.lo, at)
    list.bits.set(part.bits, at)
    at += part.bits.length
  }
  return list
}

/** Sorted lists merged into one set in shared memory, the bits of equal keys or-ed together. */
export function merge (lists: KeyList[]): ScreeningSet {
  const total = lists.reduce((n, list) => n + list.bits.length, 0)
  const hi = new Uint32Array(new SharedArrayBuffer(total * 4))
  const lo = new Uint32Array(new SharedArrayBuffer(total * 4))
  const flags = new Uint8Array(new SharedArrayBuffer(total))
  const at = lists.map(() => 0)
  let n = 0
  for (;;) {
    // The smallest key at the head of any list (there are at most three lists).
    let best = -1
    let bestHi = 0
    let bestLo = 0
    for (let l = 0; l < lists.length; l++) {
      const list = lists[l]!
      const i = at[l]!
      if (i >= list.bits.length) continue
      const h = list.hi[i]!
      const o = list.lo[i]!
      if (best === -1 || h < bestHi || (h === bestHi && o < bestLo)) { best = l; bestHi = h; bestLo = o }
    }
    if (best === -1) break
    const bit = lists[best]!.bits[at[best]!]!
    at[best] = at[best]! + 1
    if (n > 0 && hi[n - 1] === bestHi && lo[n - 1] === bestLo) flags[n - 1] = flags[n - 1]! | bit
    else { hi[n] = bestHi; lo[n] = bestLo; flags[n] = bit; n++ }
  }
  return { hi: hi.subarray(0, n), lo: lo.subarray(0, n), flags: flags.subarray(0, n) }
}

/** The verdict bits of the number whose hash starts with (hi, lo); 0 when it is on no list. */
export function flagsOf (set: ScreeningSet, hi: number, lo: number): number {
  let a = 0
  let b = set.hi.length - 1
  while (a <= b) {
    const m = (a + b) >>> 1
    const h = set.hi[m]!
    if (h === hi) {
      const o = set.lo[m]!
      if (o === lo) return set.flags[m]!
      if (o < lo) a = m + 1
      else b = m - 1
    } else if (h < hi) a = m + 1
    else b = m - 1
  }
  return 0
}
