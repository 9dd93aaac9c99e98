// Turns the two tracks of a Twilio media stream into one interleaved 2-channel µ-law stream.
//
// Twilio sends each track as its own series of media messages whose `timestamp` is milliseconds
// since the stream started (https://www.twilio.com/docs/voice/media-streams/websocket-messages,
// "Media message"); the payload is raw µ-law at 8000 Hz, one byte per sample. Packets lost
// before they reached Twilio simply never arrive, and a track with nothing to say (an outbound
// leg with no audio) may send nothing for long stretches, so placement is by timestamp, never by
// arrival order or chunk count. The timeline is written out once the newest timestamp seen on
// either track is a jitter window ahead of it; anything arriving for an already written stretch
// is late and dropped. Memory is therefore the window plus one frame per channel, not the call.
//
// Pure: no I/O and no clock; time is only what the frames say.
import { Channel } from './channel.js'
import type { Track } from './frames.js'

/** 8000 Hz µ-law: 8 one-byte samples per millisecond. */
export const SAMPLES_PER_MS = 8
/** Output channel of each Twilio track: 0 (left) the caller, 1 (right) the other party. */
export const CHANNEL_OF_TRACK: Record<Track, 0 | 1> = { inbound: 0, outbound: 1 }

export interface AssemblerOptions {
  /**
   * Receives the interleaved output in timeline order. The chunk's memory is reused for the next
   * one: copy what must outlive the call (a fresh buffer per chunk was garbage at 10 a second per
   * stream).
   */
  onChunk: (chunk: Buffer) => void;
  /** How far behind the newest frame another may arrive and still be placed. Default 300. */
  jitterMs?: number;
  /** Size of every chunk but the last; even, so a chunk never splits a sample pair. Default 16000 (1 s). */
  chunkBytes?: number;
  /**
   * A frame further than this ahead of the timeline is rejected instead of making the
   * assembler write that much silence: a timestamp hours ahead is a corrupt frame, not a pause.
   * Default 600000 (10 minutes).
   */
  maxJumpMs?: number;
}

export interface AssemblerStats {
  /** Every frame pushed, whatever became of it. */
  frames: number;
  /** Frames that arrived after (part of) their stretch was written; what was left is used. */
  late: number;
  /** Frames whose track and timestamp matched one still held. */
  duplicates: number;
  /** Frames with an unusable timestamp (negative, fractional, or beyond `maxJumpMs`). */
  rejected: number;
  /** Silence written where a channel had no audio, summed over both channels. */
  gapsFilledMs: number;
  /** Bytes handed to `onChunk` so far (both channels). */
  emittedBytes: number;
  /** Length of the audio handed out so far. */
  durationMs: number;
}

export type PushResult = 'accepted' | 'late' | 'duplicate' | 'rejected'

const DEFAULTS = { jitterMs: 300, chunkBytes: 16_000, maxJumpMs: 600_000 }

export class Assembler {
  private readonly onChunk: (chunk: Buffer) => void
  private readonly windowSamples: number
  private readonly maxJumpSamples: number
  private readonly chunkBytes: number
  private readonly channels: [Channel, Channel]
  /** Start sample of each frame still held, per track, to recognise duplicates. */
  private readonly held: Record<Track, Set<number>> = { inbound: new Set(), outbound: new Set() }
  /** Samples per channel already written to the output. */
  private emitted = 0
  /** Newest frame start seen on either track; -1 before the first frame. */
  private newest = -1
  /** End of the furthest frame on either track: where flush() pads both channels to. */
  private end = 0
  private readonly out: Buffer
  private outFill = 0
  private flushed = false
  private counts = { frames: 0, late: 0, duplicates: 0, rejected: 0, gapSamples: 0, emittedBytes: 0 }

  constructor (options: AssemblerOptions) {
    const jitterMs = options.jitterMs ?? DEFAULTS.jitterMs
    const chunkBytes = options.chunkBytes ?? DEFAULTS.chunkBytes
    const maxJumpMs = options.maxJumpMs ?? DEFAULTS.maxJumpMs
    if (!Number.isSafeInteger(jitterMs) || jitterMs < 0) throw new RangeError('jitterMs must be a whole number ≥ 0')
    if (!Number.isSafeInteger(chunkBytes) || chunkBytes < 2 || chunkBytes % 2 !== 0) {
      throw new RangeError('chunkBytes must be an even whole number ≥ 2')
    }
    if (!Number.isSafeInteger(maxJumpMs) || maxJumpMs < 0) {
      throw new RangeError('maxJumpMs must be a whole number ≥ 0')
    }
    this.onChunk = options.onChunk
    this.windowSamples = jitterMs * SAMPLES_PER_MS
    this.maxJumpSamples = maxJumpMs * SAMPLES_PER_MS
    this.chunkBytes = chunkBytes
    // Room for the window plus a 20 ms frame, Twilio's usual size, so a normal call never grows it.
    const capacity = this.windowSamples + 20 * SAMPLES_PER_MS
    this.channels = [new Channel(capacity), new Channel(capacity)]
    this.out = Buffer.allocUnsafe(chunkBytes)
  }

  /** Places one media frame's µ-law payload at `timestampMs` on its track's channel. */
  push (track: Track, timestampMs: number, payload: Uint8Array): PushResult {
    if (this.flushed) throw new Error('Assembler: push after flush')
    this.counts.frames++
    const start = timestampMs * SAMPLES_PER_MS
    const lead = start - Math.max(this.newest, this.emitted)
    if (!Number.isSafeInteger(start) || start < 0 || lead > this.maxJumpSamples) {
      this.counts.rejected++
      return 'rejected'
    }
    const held = this.held[track]
    if (held.has(start)) {
      this.counts.duplicates++
      return 'duplicate'
    }
    const channel = this.channels[CHANNEL_OF_TRACK[track]]
    const end = start + payload.length
    if (start < this.emitted) {
      this.counts.late++
      if (end > this.emitted) {
        channel.write(0, payload.subarray(this.emitted - start))
        this.end = Math.max(this.end, end)
      }
      return 'late'
    }
    if (start > this.newest) {
      this.newest = start
      // Emitting first keeps the buffer at window + frame: the stretch before the new horizon
      // (possibly a long silence) goes out before this frame is stored after it.
      this.emitTo(start - this.windowSamples)
    }
    channel.write(start - this.emitted, payload)
    held.add(start)
    this.end = Math.max(this.end, end)
    return 'accepted'
  }

  /** At the stop message: writes out everything held, both channels padded to the same end. */
  flush (): void {
    if (this.flushed) return
    this.emitTo(this.end)
    if (this.outFill > 0) {
      this.counts.emittedBytes += this.outFill
      this.onChunk(this.out.subarray(0, this.outFill))
    }
    this.outFill = 0
    this.flushed = true
  }

  stats (): AssemblerStats {
    const { frames, late, duplicates, rejected, gapSamples, emittedBytes } = this.counts
    return {
      frames,
      late,
      duplicates,
      rejected,
      gapsFilledMs: gapSamples / SAMPLES_PER_MS,
      emittedBytes,
      durationMs: emittedBytes / 2 / SAMPLES_PER_MS,
    }
  }

  /** Audio bytes held and not yet handed out: unplaced samples of both channels plus the partial chunk. */
  bufferedBytes (): number {
    return this.channels[0].pending + this.channels[1].pending + this.outFill
  }

  /** Bytes allocated for buffering, whether or not they hold audio now. */
  allocatedBytes (): number {
    return this.channels[0].allocated + this.channels[1].allocated + this.out.length
  }

  private emitTo (target: number): void {
    while (this.emitted < target) {
      const count = Math.min(target - this.emitted, (this.chunkBytes - this.outFill) / 2)
      // Channel 0 takes the even bytes and channel 1 the odd ones: L,R,L,R as WAV expects.
      this.counts.gapSamples += this.channels[0].drain(count, this.out, this.outFill, 2)
      this.counts.gapSamples += this.channels[1].drain(count, this.out, this.outFill + 1, 2)
      this.outFill += count * 2
      this.emitted += count
      if (this.outFill === this.chunkBytes) {
        this.counts.emittedBytes += this.chunkBytes
        this.onChunk(this.out)
        this.outFill = 0
      }
    }
    this.forget(this.held.inbound)
    this.forget(this.held.outbound)
  }

  /** Drops the starts of frames now written out: only frames still held can be duplicates. */
  private forget (held: Set<number>): void {
    for (const start of held) if (start < this.emitted) held.delete(start)
  }
}
