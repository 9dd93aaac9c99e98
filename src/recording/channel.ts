// One channel of the assembler: the samples between what has already been emitted and the
// furthest frame written so far. Index 0 is always the first sample not yet emitted, so the
// buffer only ever spans the jitter window plus one frame, whatever the length of the call.

/** µ-law encodes zero amplitude as 0xFF (ITU-T G.711, table 2a: code 255 = +0). */
export const MULAW_SILENCE = 0xff;

export class Channel {
  private buf: Buffer;
  /** 1 where a frame supplied the sample, so inserted silence can be counted. */
  private covered: Uint8Array;
  /** Samples from index 0 up to the end of the furthest frame written. */
  private length = 0;

  constructor(initialCapacity: number) {
    const capacity = Math.max(1, initialCapacity);
    this.buf = Buffer.alloc(capacity, MULAW_SILENCE);
    this.covered = new Uint8Array(capacity);
  }

  /** Samples held that have not been emitted yet. */
  get pending(): number {
    return this.length;
  }

  /** Bytes allocated for this channel (buffer plus coverage map). */
  get allocated(): number {
    return this.buf.length + this.covered.length;
  }

  /** Copies `payload` so that it starts `offset` samples after the first unemitted one. */
  write(offset: number, payload: Uint8Array): void {
    const end = offset + payload.length;
    this.reserve(end);
    this.buf.set(payload, offset);
    this.covered.fill(1, offset, end);
    this.length = Math.max(this.length, end);
  }

  /**
   * Moves the next `count` samples into `out` at every `stride`-th byte from `at` (so two
   * channels interleave into one buffer), silence where no frame wrote. Returns how many of
   * them were silence filled in for missing audio.
   */
  drain(count: number, out: Buffer, at: number, stride: number): number {
    const held = Math.min(count, this.length);
    let filled = count - held;
    for (let i = 0; i < held; i++) {
      out[at + i * stride] = this.buf[i] as number;
      if (this.covered[i] === 0) filled++;
    }
    for (let i = held; i < count; i++) out[at + i * stride] = MULAW_SILENCE;
    // Shift what is left to the front and reset the freed tail, so the invariant "beyond
    // `length` is silence, uncovered" holds for the next write.
    this.buf.copyWithin(0, held, this.length);
    this.covered.copyWithin(0, held, this.length);
    const remaining = this.length - held;
    this.buf.fill(MULAW_SILENCE, remaining, this.length);
    this.covered.fill(0, remaining, this.length);
    this.length = remaining;
    return filled;
  }

  private reserve(size: number): void {
    if (size <= this.buf.length) return;
    const capacity = Math.max(size, this.buf.length * 2);
    const buf = Buffer.alloc(capacity, MULAW_SILENCE);
    this.buf.copy(buf, 0, 0, this.length);
    const covered = new Uint8Array(capacity);
    covered.set(this.covered.subarray(0, this.length));
    this.buf = buf;
    this.covered = covered;
  }
}
