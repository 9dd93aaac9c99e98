// One channel of the assembler: the samples between what has already been emitted and the
// furthest frame written so far, so it only ever spans the jitter window plus one frame,
// whatever the length of the call.
//
// A ring buffer, not a buffer shifted to the front on every drain: each new 20 ms frame drains
// 160 samples, and shifting the rest of a 1.5 s window then copied ~12 KB per channel per frame
// (2.4 GB/s of memmove at 1,000 streams). Which samples a frame supplied is kept as a few
// [from, to) spans rather than a byte per sample: frames arrive in runs, so a channel holds one
// or two spans, not a second window-sized array.

/** µ-law encodes zero amplitude as 0xFF (ITU-T G.711, table 2a: code 255 = +0). */
export const MULAW_SILENCE = 0xff

export class Channel {
  private buf: Buffer
  /** Where sample 0 (the first not yet emitted) sits in `buf`. */
  private head = 0
  /** Samples from 0 up to the end of the furthest frame written. */
  private length = 0
  /** Covered stretches as flat [from, to) pairs relative to sample 0: sorted, disjoint, not touching. */
  private spans: number[] = []

  constructor (initialCapacity: number) {
    this.buf = Buffer.alloc(Math.max(1, initialCapacity), MULAW_SILENCE)
  }

  /** Samples held that have not been emitted yet. */
  get pending (): number {
    return this.length
  }

  /** Bytes allocated for this channel's samples. */
  get allocated (): number {
    return this.buf.length
  }

  /** Copies `payload` so that it starts `offset` samples after the first unemitted one. */
  write (offset: number, payload: Uint8Array): void {
    const end = offset + payload.length
    if (end === offset) return
    this.reserve(end)
    const capacity = this.buf.length
    const at = (this.head + offset) % capacity
    const first = Math.min(payload.length, capacity - at)
    this.buf.set(first === payload.length ? payload : payload.subarray(0, first), at)
    if (first < payload.length) this.buf.set(payload.subarray(first), 0)
    this.cover(offset, end)
    this.length = Math.max(this.length, end)
  }

  /**
   * Moves the next `count` samples into `out` at every `stride`-th byte from `at` (so two
   * channels interleave into one buffer), silence where no frame wrote. Returns how many of
   * them were silence filled in for missing audio.
   */
  drain (count: number, out: Buffer, at: number, stride: number): number {
    const held = Math.min(count, this.length)
    const capacity = this.buf.length
    const buf = this.buf
    // Up to two runs: from head to the end of the buffer, then from its start.
    const firstRun = Math.min(held, capacity - this.head)
    for (let i = 0, j = this.head; i < firstRun; i++, j++) out[at + i * stride] = buf[j] as number
    for (let i = firstRun, j = 0; i < held; i++, j++) out[at + i * stride] = buf[j] as number
    for (let i = held; i < count; i++) out[at + i * stride] = MULAW_SILENCE
    // Freed samples go back to silence, so that "beyond `length` is silence" holds for the next write.
    buf.fill(MULAW_SILENCE, this.head, this.head + firstRun)
    if (held > firstRun) buf.fill(MULAW_SILENCE, 0, held - firstRun)
    this.head = (this.head + held) % capacity
    this.length -= held
    return count - this.uncover(count)
  }

  /** Records [from, to) as supplied by a frame, merging with the spans it meets. */
  private cover (from: number, to: number): void {
    const spans = this.spans
    let i = 0
    while (i < spans.length && spans[i + 1]! < from) i += 2
    let j = i
    while (j < spans.length && spans[j]! <= to) {
      from = Math.min(from, spans[j]!)
      to = Math.max(to, spans[j + 1]!)
      j += 2
    }
    spans.splice(i, j - i, from, to)
  }

  /** Drops the first `count` samples from the spans, moving the rest down; returns how many of them were covered. */
  private uncover (count: number): number {
    const spans = this.spans
    let covered = 0
    let drop = 0
    for (let i = 0; i < spans.length; i += 2) {
      const from = spans[i]!
      const to = spans[i + 1]!
      if (from >= count) {
        spans[i] = from - count
        spans[i + 1] = to - count
        continue
      }
      covered += Math.min(to, count) - from
      if (to <= count) {
        drop += 2
      } else {
        spans[i] = 0
        spans[i + 1] = to - count
      }
    }
    if (drop > 0) spans.splice(0, drop)
    return covered
  }

  private reserve (size: number): void {
    const capacity = this.buf.length
    if (size <= capacity) return
    const buf = Buffer.alloc(Math.max(size, capacity * 2), MULAW_SILENCE)
    // Linearised: sample 0 moves to index 0.
    const firstRun = Math.min(this.length, capacity - this.head)
    this.buf.copy(buf, 0, this.head, this.head + firstRun)
    if (this.length > firstRun) this.buf.copy(buf, firstRun, 0, this.length - firstRun)
    this.buf = buf
    this.head = 0
  }
}
