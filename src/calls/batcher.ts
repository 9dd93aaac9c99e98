/**
 * Group commit for webhook steps. A job submitted while nothing is in flight runs in the same turn
 * of the event loop, with whatever else arrived in it: an idle server adds no wait. Jobs that
 * arrive while `concurrency` batches are being run queue up and go together in the next one, so
 * under load one read and one write carry many calls' steps instead of each paying its own.
 *
 * Jobs with the same key (a CallSid) never share a batch and never run at the same time: a
 * Twilio retry that arrives while its original is being written waits for it, and then finds it
 * applied instead of running it a second time.
 */
export class Batcher<J, R> {
  readonly #run: (jobs: J[]) => Promise<R[]>
  readonly #keyOf: (job: J) => string
  readonly #maxSize: number
  readonly #concurrency: number
  #queue: Array<Pending<J, R>> = []
  readonly #busy = new Set<string>()
  #running = 0
  #scheduled = false

  /**
   * `run` answers every job of a batch, in order; if it throws, every job of the batch fails with
   * its error.
   */
  constructor (opts: { run: (jobs: J[]) => Promise<R[]>, keyOf: (job: J) => string, maxSize: number, concurrency: number }) {
    this.#run = opts.run
    this.#keyOf = opts.keyOf
    this.#maxSize = opts.maxSize
    this.#concurrency = opts.concurrency
  }

  async submit (job: J): Promise<R> {
    return await new Promise<R>((resolve, reject) => {
      this.#queue.push({ job, key: this.#keyOf(job), resolve, reject })
      // The batch starts once the event loop has read what the sockets hold: every request that
      // arrived meanwhile joins it. Started at once instead, an embedded database (which blocks
      // the thread while it runs a statement) would run one request per batch.
      if (!this.#scheduled) {
        this.#scheduled = true
        setImmediate(() => {
          this.#scheduled = false
          this.#pump()
        })
      }
    })
  }

  /** Jobs waiting for a batch, and batches being run (for tests and metrics). */
  get depth (): { queued: number, running: number } {
    return { queued: this.#queue.length, running: this.#running }
  }

  #pump (): void {
    while (this.#running < this.#concurrency && this.#queue.length > 0) {
      const batch = this.#take()
      if (batch.length === 0) return
      this.#running++
      void this.#runBatch(batch)
    }
  }

  /** Up to maxSize queued jobs in arrival order, skipping keys already busy or already taken. */
  #take (): Array<Pending<J, R>> {
    const batch: Array<Pending<J, R>> = []
    const rest: Array<Pending<J, R>> = []
    for (const pending of this.#queue) {
      if (batch.length < this.#maxSize && !this.#busy.has(pending.key)) {
        this.#busy.add(pending.key)
        batch.push(pending)
      } else {
        rest.push(pending)
      }
    }
    this.#queue = rest
    return batch
  }

  async #runBatch (batch: Array<Pending<J, R>>): Promise<void> {
    try {
      const results = await this.#run(batch.map((p) => p.job))
      if (results.length !== batch.length) throw new Error(`a batch of ${batch.length} jobs was answered with ${results.length} results`)
      batch.forEach((p, i) => { p.resolve(results[i]!) })
    } catch (err) {
      for (const p of batch) p.reject(err)
    } finally {
      for (const p of batch) this.#busy.delete(p.key)
      this.#running--
      this.#pump()
    }
  }
}

interface Pending<J, R> {
  job: J
  key: string
  resolve: (result: R) => void
  reject: (err: unknown) => void
}
