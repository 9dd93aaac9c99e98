import { createHash } from 'node:crypto'
import { open, rename, unlink, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import type { KeyringNode } from '@aws-crypto/client-node'
import { FRAME_LENGTH, openSealer, type FrameSealer, type RecordingContext } from '../crypto/envelope.js'
import { Assembler, type AssemblerStats, type PushResult } from './assembler.js'
import type { Track } from './frames.js'

// 2 channels × 8 samples per ms × 1 byte per µ-law sample.
const BYTES_PER_MS = 16
// The assembler hands over 100 ms chunks: the granularity at which an agent's pause cuts audio out.
const CHUNK_BYTES = 100 * BYTES_PER_MS
// Above this much ciphertext waiting for the disk, the WebSocket is paused (back-pressure); it is
// resumed once the writes have caught up.
const HIGH_WATER = 256 * 1024
// Audio is held this long before it is encrypted, so an agent's pause, which reaches the stream's
// process by polling, still cuts from the moment it was asked for. 1.5 s of audio is 24 KB.
export const CONTROL_DELAY_MS = 1500
/**
 * The most audio a `kill -9` can lose, because it is in memory and not yet on its way to the
 * spool file (while the disk keeps up):
 *     1500 ms  CONTROL_DELAY_MS, the assembler's window behind the newest frame
 *   +   20 ms  the newest frame itself (Twilio's frames are 20 ms)
 *   +  100 ms  the assembler's unfilled output chunk (CHUNK_BYTES)
 *   +  256 ms  the SDK's unfinished frame: it only emits whole frames, FRAME_LENGTH / 16 = 4096 / 16
 *   = 1876 ms ≤ 2 s.
 * So every whole frame is sealed and written at once: a 64 KiB batch in front of the SDK (4 s of
 * audio) saved ~0.1 ms of CPU per stream-second and broke this bound.
 */
export const MAX_LOSS_MS = CONTROL_DELAY_MS + 20 + CHUNK_BYTES / BYTES_PER_MS + FRAME_LENGTH / BYTES_PER_MS

export interface FinishedRecording {
  file: string
  plainBytes: number
  sha256: string
  durationMs: number
  stats: AssemblerStats
}

export const spoolPaths = (spoolDir: string, id: string) => ({ part: join(spoolDir, `${id}.part`), complete: join(spoolDir, `${id}.enc`) })

/**
 * One live recording: media frames → two-channel assembler → envelope encryption → spool file.
 * Only ciphertext reaches the disk, a whole SDK frame at a time as soon as it is full: a process
 * that dies mid-call leaves a `.part` holding all but the last MAX_LOSS_MS, which the next start
 * recovers (recovery.ts). Memory stays bounded whatever the call length: the jitter window, one
 * 4 KiB frame of plaintext, and the ciphertext not yet on disk (normally one frame).
 */
export class LiveRecording {
  private readonly assembler: Assembler
  private readonly paths: { part: string, complete: string }
  private readonly hash = createHash('sha256')
  private plainBytes = 0
  /** Plaintext of the frame being filled; reused, as sealing copies it. */
  private readonly frame = Buffer.allocUnsafe(FRAME_LENGTH)
  private frameFill = 0
  private sealer: FrameSealer | null = null
  private file: FileHandle | null = null
  /** Data key and spool file; frames filled before they are there wait in `early`. */
  private readonly ready: Promise<void>
  private early: Buffer[] = []
  /** Ciphertext not yet handed to the disk, and whether a write is in flight. */
  private queue: Buffer[] = []
  private queuedBytes = 0
  private writing = false
  private failure: Error | null = null
  private whenWritten: (() => void) | null = null
  private pressured = false
  /** Where the next assembled chunk starts on the stream's timeline (ms). */
  private timelineMs = 0
  /** Paused stretches of the timeline: [from, to), `to` Infinity while still paused. */
  private readonly cuts: Array<{ from: number, to: number }> = []
  private cutMs = 0

  constructor (readonly id: string, spoolDir: string, keyring: KeyringNode, context: RecordingContext, private readonly onPressure: (pause: boolean) => void) {
    this.paths = spoolPaths(spoolDir, id)
    const part = this.paths.part
    this.ready = (async () => {
      const sealer = await openSealer(keyring, context)
      try {
        this.file = await open(part, 'w', 0o600)
      } catch (err) {
        sealer.dispose()
        throw err
      }
      this.sealer = sealer
      this.enqueue(sealer.header)
      for (const plain of this.early) this.enqueue(sealer.seal(plain, false))
      this.early = []
    })()
    this.ready.catch((err: unknown) => { this.failure ??= err as Error })
    this.assembler = new Assembler({ onChunk: (chunk) => this.take(chunk), chunkBytes: CHUNK_BYTES, jitterMs: CONTROL_DELAY_MS })
  }

  push (track: Track, timestampMs: number, payload: Buffer): PushResult {
    return this.assembler.push(track, timestampMs, payload)
  }

  /**
   * Cuts audio out of the stored recording from `atMs` on the stream's timeline (card numbers,
   * health details) until a resume. Audio already encrypted cannot be cut: `atMs` earlier than
   * that is moved to the first audio not yet written, and reported as late.
   */
  pause (atMs: number): { late: boolean } {
    const open = this.cuts.at(-1)
    if (open !== undefined && open.to === Infinity) return { late: false }
    const from = Math.max(atMs, this.timelineMs)
    this.cuts.push({ from, to: Infinity })
    return { late: from > atMs }
  }

  resume (atMs: number): void {
    const open = this.cuts.at(-1)
    if (open !== undefined && open.to === Infinity) open.to = Math.max(open.from, atMs)
  }

  /** Milliseconds cut out so far. */
  get pausedMs (): number {
    return this.cutMs
  }

  stats (): AssemblerStats {
    return this.assembler.stats()
  }

  /** Ends the stream: everything assembled is encrypted and the spool file is complete. */
  async finish (): Promise<FinishedRecording> {
    this.assembler.flush()
    await this.ready
    try {
      this.enqueue(this.sealer!.seal(this.frame.subarray(0, this.frameFill), true))
      await this.written()
      if (this.failure !== null) throw this.failure
    } finally {
      await this.close()
    }
    await rename(this.paths.part, this.paths.complete)
    return { file: this.paths.complete, plainBytes: this.plainBytes, sha256: this.hash.digest('hex'), durationMs: Math.round(this.plainBytes / BYTES_PER_MS), stats: this.assembler.stats() }
  }

  /** Drops the recording and its spool file. */
  async discard (): Promise<void> {
    await this.ready.catch(() => {})
    await this.written()
    await this.close()
    await unlink(this.paths.part).catch(() => {})
  }

  private take (chunk: Buffer): void {
    const start = this.timelineMs
    const end = start + chunk.length / BYTES_PER_MS
    this.timelineMs = end
    let overlapped = false
    let from = start
    for (const cut of this.cuts) {
      if (cut.to <= from || cut.from >= end) continue
      if (cut.from > from) this.keep(chunk.subarray((from - start) * BYTES_PER_MS, (cut.from - start) * BYTES_PER_MS))
      overlapped = true
      const cutEnd = Math.min(cut.to, end)
      this.cutMs += cutEnd - Math.max(cut.from, from)
      from = cutEnd
      if (from >= end) return
    }
    this.keep(!overlapped ? chunk : chunk.subarray((from - start) * BYTES_PER_MS))
  }

  private keep (chunk: Buffer): void {
    if (chunk.length === 0) return
    this.hash.update(chunk)
    this.plainBytes += chunk.length
    let at = 0
    while (at < chunk.length) {
      const n = Math.min(chunk.length - at, FRAME_LENGTH - this.frameFill)
      chunk.copy(this.frame, this.frameFill, at, at + n)
      this.frameFill += n
      at += n
      if (this.frameFill < FRAME_LENGTH) break
      this.frameFill = 0
      if (this.sealer !== null) this.enqueue(this.sealer.seal(this.frame, false))
      else this.early.push(Buffer.from(this.frame))
    }
  }

  private enqueue (buffers: Buffer[]): void {
    for (const b of buffers) {
      this.queue.push(b)
      this.queuedBytes += b.length
    }
    if (!this.pressured && this.queuedBytes > HIGH_WATER) {
      this.pressured = true
      this.onPressure(true)
    }
    this.writeNext()
  }

  /** One write at a time, of everything queued: a frame's pieces go down in one writev. */
  private writeNext (): void {
    if (this.writing || this.file === null) return
    if (this.queue.length === 0 || this.failure !== null) {
      this.whenWritten?.()
      return
    }
    const buffers = this.queue
    this.queue = []
    this.writing = true
    this.file.writev(buffers).then(({ bytesWritten }) => {
      this.queuedBytes -= bytesWritten
      // A short write (disk full, a signal) leaves the rest at the front of the queue.
      let skip = bytesWritten
      while (buffers.length > 0 && skip >= buffers[0]!.length) skip -= buffers.shift()!.length
      if (buffers.length > 0) buffers[0] = buffers[0]!.subarray(skip)
      this.queue = [...buffers, ...this.queue]
    }, (err: unknown) => { this.failure ??= err as Error }).finally(() => {
      this.writing = false
      if (this.pressured && this.queuedBytes <= HIGH_WATER / 2) {
        this.pressured = false
        this.onPressure(false)
      }
      this.writeNext()
    })
  }

  /** Resolves once everything queued is on its way to the disk (or a write failed). */
  private written (): Promise<void> {
    if (!this.writing && (this.queue.length === 0 || this.failure !== null || this.file === null)) return Promise.resolve()
    return new Promise((resolve) => {
      this.whenWritten = () => { this.whenWritten = null; resolve() }
    })
  }

  private async close (): Promise<void> {
    this.sealer?.dispose()
    this.sealer = null
    await this.file?.close()
    this.file = null
  }
}
