import { createHash } from 'node:crypto'
import { once } from 'node:events'
import { createReadStream, createWriteStream } from 'node:fs'
import { open, readdir, rename, unlink } from 'node:fs/promises'
import { basename } from 'node:path'
import { pipeline } from 'node:stream/promises'
import type { KeyringNode } from '@aws-crypto/client-node'
import type { FastifyBaseLogger } from 'fastify'
import type { Clock } from '../clock.js'
import { decryptStream, encryptStream, FINAL_FRAME_MARK, FRAME_BYTES, FRAME_LENGTH, headerLength, type RecordingContext } from '../crypto/envelope.js'
import { NoTenantKey, type TenantKeys } from '../crypto/tenant-keys.js'
import { appendCallEvent } from '../db/calls.js'
import type { Db } from '../db/client.js'
import { findRecording, updateRecording, type RecordingRow } from '../db/recordings.js'
import { spoolPaths } from './live-recording.js'

export interface RecoveryDeps {
  db: Db
  keys: Pick<TenantKeys, 'forTenant'>
  clock: Clock
  log: FastifyBaseLogger
  spoolDir: string
}

export type RecoveryOutcome = 'recovered' | 'failed' | 'discarded'

const BYTES_PER_MS = 16
// A message header is a few hundred bytes (one encrypted data key, a three-entry context).
const HEAD_BYTES = 64 * 1024
// Far longer than the SDK takes to release the frames already fed to it (milliseconds).
const STALL_MS = 10_000
// Recording ids are UUIDs; any other name in the spool is not a recording (and no row matches it).
const RECORDING_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

/**
 * The remains of recordings whose process died, listed once at start-up, before this process
 * takes any stream (the spool lock makes every file here this installation's own): each `.part`,
 * and a `.enc` whose row still says 'recording' (the process died between completing the file
 * and recording that), renamed to `.part` so the normal upload cannot take it first.
 */
export async function findOrphans (deps: Pick<RecoveryDeps, 'db' | 'spoolDir'>): Promise<string[]> {
  const orphans: string[] = []
  for (const name of await readdir(deps.spoolDir)) {
    if (name.endsWith('.part')) {
      orphans.push(basename(name, '.part'))
    } else if (name.endsWith('.enc')) {
      const id = basename(name, '.enc')
      if ((await rowOf(deps.db, id))?.status !== 'recording') continue
      const paths = spoolPaths(deps.spoolDir, id)
      await rename(paths.complete, paths.part)
      orphans.push(id)
    }
  }
  return orphans
}

/**
 * Turns what can be read of an orphaned spool file into a complete recording in `<id>.enc`,
 * status 'spooled' (the upload path takes it from there) and `truncated` when the message was cut.
 * Throws on a passing problem (database, KMS): the file is kept and tried again.
 */
export async function recoverOrphan (deps: RecoveryDeps, id: string): Promise<RecoveryOutcome> {
  const { log } = deps
  const paths = spoolPaths(deps.spoolDir, id)
  const row = await rowOf(deps.db, id)
  if (row === null || row.status !== 'recording') {
    // Not a recording this installation was making: nothing to recover it into.
    log.warn({ recordingId: id, status: row?.status ?? null }, 'spool: deleted a .part with no recording in progress')
    await unlink(paths.part).catch(() => {})
    return 'discarded'
  }
  const keyring = await tenantKeyring(deps, row.tenantId)
  const sealed = keyring === null
    ? { plainBytes: 0, sha256: '', complete: false }
    : await reseal(keyring, { tenantId: row.tenantId, callSid: row.callSid, recordingId: id }, paths.part, paths.complete)
  const now = deps.clock.now()
  if (sealed.plainBytes === 0 && !sealed.complete) {
    // Killed before the first frame (under ~2 s into the stream): not one authenticated byte to
    // keep. 'failed', as for any recording that stored nothing, rather than an empty object that
    // a controller would open to find silence and the sweeper would have to expire.
    await deps.db.transaction(async (tx) => {
      await updateRecording(tx, id, { status: 'failed', truncated: true, plainBytes: 0, durationMs: 0 })
      await appendCallEvent(tx, row.callSid, { node: null, input: null, outcome: 'recording-failed' }, now)
    })
    await unlink(paths.complete).catch(() => {})
    await unlink(paths.part)
    log.warn({ recordingId: id, callSid: row.callSid }, 'spool: nothing readable in a recording left by a process that died; marked failed')
    return 'failed'
  }
  const durationMs = Math.round(sealed.plainBytes / BYTES_PER_MS)
  await deps.db.transaction(async (tx) => {
    await updateRecording(tx, id, { status: 'spooled', truncated: !sealed.complete, plainBytes: sealed.plainBytes, sha256: sealed.sha256, durationMs })
    if (!sealed.complete) await appendCallEvent(tx, row.callSid, { node: null, input: String(durationMs), outcome: 'recording-truncated' }, now)
  })
  // Last: until the row says 'spooled', a crash here leaves the .part to recover again.
  await unlink(paths.part)
  log.warn({ recordingId: id, callSid: row.callSid, durationMs, truncated: !sealed.complete }, 'spool: recovered a recording left by a process that died')
  return 'recovered'
}

async function rowOf (db: Db, id: string): Promise<RecordingRow | null> {
  return RECORDING_ID.test(id) ? await findRecording(db, id) : null
}

/** null: the tenant has no key any more (offboarded), so its ciphertext can never be read. */
async function tenantKeyring (deps: RecoveryDeps, tenantId: string): Promise<KeyringNode | null> {
  try {
    return (await deps.keys.forTenant(tenantId)).keyring
  } catch (err) {
    if (err instanceof NoTenantKey) return null
    throw err
  }
}

/**
 * Where the whole regular frames of a (possibly cut) message end, and how many there are: the
 * header, then frames of FRAME_BYTES until a cut or the final frame (whose content length varies).
 */
async function wholeFrames (file: string): Promise<{ end: number, frames: number, size: number }> {
  const handle = await open(file, 'r')
  try {
    const { size } = await handle.stat()
    const head = Buffer.alloc(Math.min(size, HEAD_BYTES))
    await handle.read(head, 0, head.length, 0)
    const header = headerLength(head)
    if (header === null) return { end: 0, frames: 0, size }
    let frames = Math.floor((size - header) / FRAME_BYTES)
    if (frames > 0) {
      // A final frame of 4088+ bytes of content is as long as a regular one: only its mark tells.
      const mark = Buffer.alloc(4)
      await handle.read(mark, 0, 4, header + (frames - 1) * FRAME_BYTES)
      if (mark.readUInt32BE(0) === FINAL_FRAME_MARK) frames--
    }
    return { end: header + frames * FRAME_BYTES, frames, size }
  } finally {
    await handle.close()
  }
}

/**
 * Decrypts `from` and encrypts the plaintext again, on the fly, into a complete message in `to`:
 * the plaintext exists only in memory, a chunk at a time. The SDK authenticates each frame before
 * releasing it, but when the input then ends mid-message, its error can discard the last frame it
 * had released and not yet passed on. So the whole frames go in first, and only once all of their
 * plaintext is out does the rest follow (a cut frame: an error; a final frame: the end).
 */
export async function reseal (keyring: KeyringNode, context: RecordingContext, from: string, to: string) {
  const layout = await wholeFrames(from)
  const hash = createHash('sha256')
  let plainBytes = 0
  const encrypt = encryptStream(keyring, context)
  const written = pipeline(encrypt, createWriteStream(to, { mode: 0o600 }))
  written.catch(() => {})
  const decrypt = decryptStream(keyring, context)
  let done = false
  const settled = new Promise<boolean>((resolve) => {
    decrypt.once('end', () => resolve(true))
    decrypt.once('error', () => resolve(false))
  }).finally(() => { done = true })
  let caughtUp!: () => void
  const framesOut = new Promise<void>((resolve) => { caughtUp = resolve })
  const wanted = layout.frames * FRAME_LENGTH
  if (wanted === 0) caughtUp()
  decrypt.on('data', (chunk: Buffer) => {
    hash.update(chunk)
    plainBytes += chunk.length
    encrypt.write(chunk)
    if (plainBytes >= wanted) caughtUp()
  })
  // Back-pressure on the file: the decrypting stream is never paused, so nothing waits in it.
  const feed = async (start: number, end: number) => {
    if (end <= start) return
    for await (const piece of createReadStream(from, { start, end: end - 1 })) {
      if (done) return
      if (!decrypt.write(piece)) await Promise.race([once(decrypt, 'drain').catch(() => {}), settled])
      if (encrypt.writableNeedDrain) await Promise.race([once(encrypt, 'drain'), written])
    }
  }
  await feed(0, layout.end)
  // Should the SDK ever hold a whole frame back, the rest goes in anyway after a while: a stuck
  // recovery would hold up every upload behind it.
  let timer: NodeJS.Timeout | undefined
  await Promise.race([framesOut, settled, new Promise((resolve) => { timer = setTimeout(resolve, STALL_MS) })])
  clearTimeout(timer)
  await feed(layout.end, layout.size)
  if (!done) decrypt.end()
  const complete = await settled
  encrypt.end()
  await written
  return { plainBytes, sha256: hash.digest('hex'), complete }
}
