// A worker thread of ScreenWorkers: screens the chunks of CSV it is sent (see screen-csv.ts).
import { parentPort, workerData } from 'node:worker_threads'
import { NumberHasher } from '../privacy/number-hash.js'
import { screenCsvLines } from './screen-csv.js'
import type { ScreeningSet } from './screening-set.js'

export interface ScreenJob { id: number, text: string, set: ScreeningSet, country: string | null }
export type ScreenAnswer = { id: number, csv: string } | { id: number, error: string }

const hasher = new NumberHasher((workerData as { hashKey: string }).hashKey)
parentPort!.on('message', (job: ScreenJob) => {
  let answer: ScreenAnswer
  try { answer = { id: job.id, csv: screenCsvLines(job.text, job.set, hasher, job.country) } } catch (error) { answer = { id: job.id, error: error instanceof Error ? error.message : String(error) } }
  parentPort!.postMessage(answer)
})
