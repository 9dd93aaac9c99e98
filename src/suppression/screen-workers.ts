import { availableParallelism } from 'node:os'
import { Worker } from 'node:worker_threads'
import type { ScreenAnswer, ScreenJob } from './screen-worker.js'
import type { ScreeningSet } from './screening-set.js'

interface Pending { resolve: (csv: string) => void, reject: (error: Error) => void }
interface Slot { worker: Worker, pending: Map<number, Pending> }

/**
 * Worker threads for bulk screening. Normalising and hashing a number (~3 µs) is most of the cost
 * of screening a list, and a thread per core lets a million numbers use every core instead of
 * queueing on the event loop that also serves the webhooks. Started on first use, kept for the
 * next list, stopped with the app.
 */
export class ScreenWorkers {
  readonly size: number
  private readonly slots: Slot[] = []
  private nextId = 0
  private closed = false

  constructor (private readonly hashKey: string, size = Math.min(4, availableParallelism())) {
    this.size = Math.max(1, size)
  }

  /** Screens whole lines of CSV (see screenCsvLines) on the least busy thread. */
  async screen (text: string, set: ScreeningSet, country: string | null): Promise<string> {
    if (this.closed) throw new Error('screening workers are stopped')
    const slot = this.pick()
    const id = this.nextId++
    return await new Promise<string>((resolve, reject) => {
      slot.pending.set(id, { resolve, reject })
      slot.worker.postMessage({ id, text, set, country } satisfies ScreenJob)
    })
  }

  /** Starts the threads now, so that loading their modules overlaps whatever comes before the first chunk. */
  warm (): void {
    while (!this.closed && this.slots.length < this.size) this.start()
  }

  async close (): Promise<void> {
    this.closed = true
    await Promise.all(this.slots.splice(0).map(async (slot) => await slot.worker.terminate()))
  }

  private pick (): Slot {
    const idle = this.slots.find((slot) => slot.pending.size === 0)
    if (idle !== undefined) return idle
    if (this.slots.length < this.size) return this.start()
    return this.slots.reduce((a, b) => (b.pending.size < a.pending.size ? b : a))
  }

  private start (): Slot {
    const worker = new Worker(workerUrl(), { workerData: { hashKey: this.hashKey } })
    // An idle pool must not keep the process alive; close() stops it with the app.
    worker.unref()
    const slot: Slot = { worker, pending: new Map() }
    const fail = (error: Error) => {
      const index = this.slots.indexOf(slot)
      if (index !== -1) this.slots.splice(index, 1)
      for (const pending of slot.pending.values()) pending.reject(error)
      slot.pending.clear()
    }
    worker.on('message', (answer: ScreenAnswer) => {
      const pending = slot.pending.get(answer.id)
      if (pending === undefined) return
      slot.pending.delete(answer.id)
      if ('error' in answer) pending.reject(new Error(answer.error))
      else pending.resolve(answer.csv)
    })
    worker.on('error', fail)
    worker.on('exit', (code) => { fail(new Error(`a screening worker stopped (exit code ${code})`)) })
    this.slots.push(slot)
    return slot
  }
}

/**
 * The worker's entry. The server runs TypeScript through tsx, whose loader does not reach worker
 * threads by itself: a .ts entry is started through a one-line module that registers tsx first.
 */
function workerUrl (): URL {
  if (import.meta.url.endsWith('.js')) return new URL('./screen-worker.js', import.meta.url)
  const entry = new URL('./screen-worker.ts', import.meta.url)
  const boot = `import { register } from ${JSON.stringify(import.meta.resolve('tsx/esm/api'))}; register(); await import(${JSON.stringify(entry.href)})`
  return new URL('data:text/javascript,' + encodeURIComponent(boot))
}
