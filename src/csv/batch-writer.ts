/**
 * The writing side of a streamed list import: one batch is written while the next is read and
 * parsed, so the database and the parsing overlap (on PostgreSQL they are different processes).
 * Never more than one statement outstanding, so two batches holding the same number never wait
 * on each other's row locks. `linesStored` is the last line of the last batch stored, for the
 * message of an import stopped part-way.
 */
export class BatchWriter<T> {
  linesStored = 0
  #writing: Promise<void> | null = null

  /** `write` stores a batch and answers how many of its rows were new; `stored` is told of each. */
  constructor (
    private readonly write: (batch: T[]) => Promise<number>,
    private readonly stored: (size: number, added: number) => void
  ) {}

  /** Waits for the batch being written, then starts writing `batch`, read through line `through`. */
  async push (batch: T[], through: number): Promise<void> {
    await this.settle()
    if (batch.length === 0) return
    this.#writing = this.write(batch).then((added) => {
      this.stored(batch.length, added)
      this.linesStored = through
    })
    // Awaited at the next push or at settle; until then a failure must not count as unhandled.
    this.#writing.catch(() => {})
  }

  /** The batch being written, stored (or its failure thrown). */
  async settle (): Promise<void> {
    if (this.#writing !== null) { const previous = this.#writing; this.#writing = null; await previous }
  }
}
