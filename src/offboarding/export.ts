import { createHash } from 'node:crypto'
import { createReadStream, createWriteStream } from 'node:fs'
import { mkdtemp, rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { PassThrough, type Readable, type Writable } from 'node:stream'
import { finished, pipeline } from 'node:stream/promises'
import { eq } from 'drizzle-orm'
import { pack as tarPack, type Header, type Pack } from 'tar-stream'
import type { Clock } from '../clock.js'
import type { TenantKeys } from '../crypto/tenant-keys.js'
import type { Executor } from '../db/executor.js'
import { tenants } from '../db/schema.js'
import { playback } from '../recording/playback.js'
import { WAV_HEADER_BYTES } from '../recording/wav.js'
import { ObjectMissing, type ObjectStore } from '../storage/object-store.js'
import { TENANT_TABLES, tenantRows } from './tenant-tables.js'

export interface ExportDeps {
  db: Executor
  store: ObjectStore
  tenantKeys: TenantKeys
  clock: Clock
  /** Where table dumps are staged before they enter the archive (a tar entry needs its size first). */
  workDir: string
}

export interface ExportSummary {
  /** Rows per exported table, recordings included as `recordings`, and `wav` files written. */
  counts: Record<string, number>
  bytes: number
  sha256: string
  /** Recordings whose object the bucket did not have: listed in the manifest, not exported. */
  objectsMissing: string[]
}

interface RecordingMeta {
  id: string
  callSid: string
  status: string
  plainBytes: number | null
  channels: number
  bucket: string
  key: string
  deletedAt: string | null
}

const README = `callgate tenant export

Everything callgate held for this tenant when the export was made, as one JSON object per line:
calls (with captured attributes and, where the campaign stored it, the caller's number), call
events, consent evidence, suppressions, outbound call attempts, data-subject requests, campaigns
(with lawful basis and legitimate-interest assessment), flows and every flow version, numbers,
users (without key hashes), recording metadata and recording controls, and the tenant's
hash-chained audit log (verify it: each entry's hash is SHA-256 over its predecessor's hash and
its canonical JSON).

recordings/<id>.wav: every stored recording, decrypted: G.711 mu-law, 8 kHz, two channels
(caller left). manifest.json lists them with their SHA-256, and the recordings that were not
exported with the reason (deleted under retention or on request, never completed, or its object
missing from the bucket).

Suppression entries are keyed hashes (HMAC-SHA-256 under this installation's number-hash key):
they prove an objection was recorded and when, but cannot be matched outside this installation.
`

/**
 * Writes a tar of everything of the tenant to `out`, streaming: table rows are staged to files
 * a page at a time, recordings are decrypted chunk by chunk straight into the archive. Nothing
 * about the tenant is changed; the caller decides what happens after.
 */
export async function exportTenant (deps: ExportDeps, tenantId: string, out: Writable): Promise<ExportSummary> {
  const [tenant] = await deps.db.select({ id: tenants.id, name: tenants.name, kmsKeyId: tenants.kmsKeyId, createdAt: tenants.createdAt }).from(tenants).where(eq(tenants.id, tenantId))
  if (tenant === undefined) throw new Error(`tenant ${tenantId} does not exist`)
  const now = deps.clock.now()
  const work = await mkdtemp(join(deps.workDir, 'export-'))
  const archive = tarPack()
  const hash = createHash('sha256')
  let bytes = 0
  const tap = new PassThrough()
  tap.on('data', (chunk: Buffer) => { hash.update(chunk); bytes += chunk.length })
  const written = pipeline(archive as unknown as Readable, tap, out)
  // An early failure of the output must not leave an unhandled rejection while entries are added.
  written.catch(() => {})
  try {
    const mtime = now
    const counts: Record<string, number> = {}
    const recordings: RecordingMeta[] = []
    await addBuffer(archive, { name: 'README.txt', mtime }, Buffer.from(README))
    await addBuffer(archive, { name: 'tenant.json', mtime }, json({ ...tenant, exportedAt: now.toISOString() }))
    for (const t of TENANT_TABLES) {
      if (t.file === null) continue
      const file = join(work, t.file)
      const sink = createWriteStream(file, { mode: 0o600 })
      let rows = 0
      for await (const page of tenantRows(deps.db, t, tenantId)) {
        rows += page.length
        if (t.file === 'recordings.jsonl') recordings.push(...page.map(recordingMeta))
        // A contact's number is the controller's data as much as the rest: handed over in clear,
        // like the recordings, since the export is all the controller keeps of it.
        if (t.file === 'contacts.jsonl') {
          const fields = await deps.tenantKeys.fieldsOf(tenantId)
          for (const row of page) {
            row.number = fields.open(String(row.numberSealed), String(row.campaignId))
            delete row.numberSealed
          }
        }
        if (!sink.write(page.map((row) => JSON.stringify(row) + '\n').join(''))) await new Promise<void>((resolve) => sink.once('drain', () => resolve()))
      }
      sink.end()
      await finished(sink)
      counts[t.file.replace(/\.jsonl$/, '')] = rows
      await addStream(archive, { name: t.file, mtime, size: (await stat(file)).size }, createReadStream(file))
      await rm(file)
    }

    const exported: Array<{ id: string, callSid: string, file: string, bytes: number, sha256: string }> = []
    const notExported: Array<{ id: string, callSid: string, reason: string }> = []
    const missing: string[] = []
    const playable = recordings.filter((r) => r.status === 'stored' && r.deletedAt === null && r.plainBytes !== null)
    const keyring = playable.length > 0 ? (await deps.tenantKeys.forTenant(tenantId)).keyring : null
    for (const r of recordings) {
      if (!playable.includes(r)) {
        notExported.push({ id: r.id, callSid: r.callSid, reason: r.deletedAt !== null ? `deleted ${r.deletedAt}` : `status ${r.status}` })
        continue
      }
      const size = WAV_HEADER_BYTES + r.plainBytes!
      let wav: Readable
      try {
        wav = await playback(deps.store, keyring!, { id: r.id, tenantId, callSid: r.callSid, bucket: r.bucket, key: r.key, plainBytes: r.plainBytes!, channels: r.channels }, { start: 0, end: size - 1 })
      } catch (err) {
        // The bucket says the object is not there (deleted outside callgate, a lost version):
        // the rest of the tenant's data is still handed over, and the manifest says what is
        // missing. Any other failure (S3 unreachable, access denied) may be passing: the export
        // fails, and so nothing is erased.
        if (!(err instanceof ObjectMissing)) throw err
        notExported.push({ id: r.id, callSid: r.callSid, reason: 'object missing' })
        missing.push(r.id)
        continue
      }
      const digest = createHash('sha256')
      wav.on('data', (chunk: Buffer) => digest.update(chunk))
      const file = `recordings/${r.id}.wav`
      await addStream(archive, { name: file, mtime, size }, wav)
      exported.push({ id: r.id, callSid: r.callSid, file, bytes: size, sha256: digest.digest('hex') })
    }
    counts.wav = exported.length
    await addBuffer(archive, { name: 'manifest.json', mtime }, json({ tenantId, exportedAt: now.toISOString(), counts, recordings: exported, recordingsNotExported: notExported }))
    archive.finalize()
    await written
    return { counts, bytes, sha256: hash.digest('hex'), objectsMissing: missing }
  } catch (err) {
    archive.destroy(err as Error)
    await written.catch(() => {})
    throw err
  } finally {
    await rm(work, { recursive: true, force: true })
  }
}

function json (value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value, null, 2) + '\n')
}

function recordingMeta (row: Record<string, unknown>): RecordingMeta {
  return {
    id: row.id as string,
    callSid: row.callSid as string,
    status: row.status as string,
    plainBytes: row.plainBytes as number | null,
    channels: row.channels as number,
    bucket: row.bucket as string,
    key: row.key as string,
    deletedAt: (row.deletedAt as Date | null)?.toISOString() ?? null
  }
}

function addBuffer (archive: Pack, header: Partial<Header> & { name: string }, body: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    archive.entry({ ...header, size: body.length, mode: 0o644 }, body, (err) => err ? reject(err) : resolve())
  })
}

/** One entry of exactly header.size bytes from `source`; a source that ends short or long fails the entry. */
function addStream (archive: Pack, header: Partial<Header> & { name: string }, source: Readable): Promise<void> {
  return new Promise((resolve, reject) => {
    const entry = archive.entry({ ...header, mode: 0o644 }, (err) => err ? reject(err) : resolve())
    source.on('error', (err) => { entry.destroy(err); reject(err) })
    source.pipe(entry as unknown as Writable)
  })
}
