import t from 'tap'
import { Batcher } from '../src/calls/batcher.js'

interface Job { key: string, n: number }

/** A batcher whose batches are recorded and held until released. */
function recording (opts: { maxSize?: number, concurrency?: number, fail?: (jobs: Job[]) => boolean } = {}) {
  const batches: Job[][] = []
  const releases: Array<() => void> = []
  let running = 0
  let most = 0
  const batcher = new Batcher<Job, string>({
    keyOf: (job) => job.key,
    maxSize: opts.maxSize ?? 64,
    concurrency: opts.concurrency ?? 1,
    run: async (jobs) => {
      batches.push(jobs)
      running++
      most = Math.max(most, running)
      await new Promise<void>((resolve) => releases.push(resolve))
      running--
      if (opts.fail?.(jobs) === true) throw new Error('batch refused')
      return jobs.map((j) => `${j.key}#${j.n}`)
    }
  })
  /** Lets every batch started so far finish, and waits for the next ones to start. */
  const release = async () => {
    for (const r of releases.splice(0)) r()
    await new Promise((resolve) => setImmediate(resolve))
    await new Promise((resolve) => setImmediate(resolve))
  }
  return { batcher, batches, release, most: () => most }
}

const tick = async () => await new Promise((resolve) => setImmediate(resolve))

t.test('a job alone runs alone, at once', async (t) => {
  const r = recording()
  const answer = r.batcher.submit({ key: 'a', n: 1 })
  await tick()
  t.same(r.batches, [[{ key: 'a', n: 1 }]])
  await r.release()
  t.equal(await answer, 'a#1')
})

t.test('jobs that arrive together, or while a batch runs, go together in the next one', async (t) => {
  const r = recording()
  const first = ['a', 'b', 'c'].map((key) => r.batcher.submit({ key, n: 1 }))
  await tick()
  t.equal(r.batches.length, 1)
  t.same(r.batches[0]!.map((j) => j.key), ['a', 'b', 'c'], 'submitted in one turn of the event loop: one batch')
  const second = ['d', 'e'].map((key) => r.batcher.submit({ key, n: 1 }))
  await tick()
  t.equal(r.batches.length, 1, 'nothing starts while the one batch allowed runs')
  t.same(r.batcher.depth, { queued: 2, running: 1 })
  await r.release()
  t.same(r.batches[1]!.map((j) => j.key), ['d', 'e'], 'the queued jobs formed the next batch')
  await r.release()
  t.same(await Promise.all([...first, ...second]), ['a#1', 'b#1', 'c#1', 'd#1', 'e#1'], 'each job got its own answer')
})

t.test('two jobs of one key are never in one batch, nor run at once', async (t) => {
  const r = recording({ concurrency: 4 })
  const answers = [r.batcher.submit({ key: 'a', n: 1 }), r.batcher.submit({ key: 'b', n: 1 }), r.batcher.submit({ key: 'a', n: 2 }), r.batcher.submit({ key: 'a', n: 3 })]
  await tick()
  t.same(r.batches.map((b) => b.map((j) => `${j.key}${j.n}`)), [['a1', 'b1']], 'the repeats of a wait, though there is room for more batches')
  await r.release()
  t.same(r.batches.map((b) => b.map((j) => `${j.key}${j.n}`)), [['a1', 'b1'], ['a2']], 'then one at a time, in arrival order')
  await r.release()
  await r.release()
  t.same(r.batches.map((b) => b.map((j) => `${j.key}${j.n}`)), [['a1', 'b1'], ['a2'], ['a3']])
  t.same(await Promise.all(answers), ['a#1', 'b#1', 'a#2', 'a#3'])
})

t.test('batch size and the number of batches at once are bounded', async (t) => {
  const r = recording({ maxSize: 3, concurrency: 2 })
  const answers = Array.from({ length: 10 }, (_, i) => r.batcher.submit({ key: `k${i}`, n: i }))
  await tick()
  t.same(r.batches.map((b) => b.length), [3, 3], 'two batches of three start; four jobs wait')
  await r.release()
  await r.release()
  t.same(r.batches.map((b) => b.length), [3, 3, 3, 1])
  t.equal(r.most(), 2, 'never more than two at once')
  t.equal((await Promise.all(answers)).length, 10)
})

t.test('a batch that fails fails its own jobs only', async (t) => {
  const r = recording({ fail: (jobs) => jobs.some((j) => j.key === 'bad') })
  const bad = Promise.allSettled([r.batcher.submit({ key: 'bad', n: 1 }), r.batcher.submit({ key: 'x', n: 1 })])
  await tick()
  const later = r.batcher.submit({ key: 'y', n: 1 })
  await r.release()
  await r.release()
  t.same((await bad).map((o) => o.status === 'rejected' ? String(o.reason) : o.value), ['Error: batch refused', 'Error: batch refused'], 'every job of the failed batch')
  t.equal(await later, 'y#1', 'the next batch runs as usual')
  t.same(r.batcher.depth, { queued: 0, running: 0 })
})
