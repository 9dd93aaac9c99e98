import { randomBytes } from 'node:crypto'
import { link, readFile, unlink, writeFile } from 'node:fs/promises'
import { performance } from 'node:perf_hooks'

/** Another live process owns the spool folder. */
export class SpoolInUse extends Error {
  override name = 'SpoolInUse'
}

interface Owner {
  pid: number
  /** When the owning process started (performance.timeOrigin): tells a re-used pid apart. */
  startedAt: number
  /** Tells apart two apps of one process. */
  nonce: string
}

export interface SpoolLock {
  file: string
  release (): Promise<void>
}

/**
 * One process per spool folder. A `.part` there is either a live recording of the owner or the
 * remains of a process that died, and only the second may be recovered: the lock file
 * (`<spool>.lock`, beside the folder so the folder holds recordings only) names the owner, and a
 * process refuses to start while that owner is alive. A lock whose process is gone is taken over.
 */
export async function lockSpool (spoolDir: string): Promise<SpoolLock> {
  const file = `${spoolDir}.lock`
  const me: Owner = { pid: process.pid, startedAt: performance.timeOrigin, nonce: randomBytes(8).toString('hex') }
  const content = JSON.stringify(me) + '\n'
  // Two rounds: a stale lock is removed once; if another process took it meanwhile, it is alive.
  for (let round = 0; round < 2; round++) {
    if (await create(file, content)) return { file, release: () => release(file, me.nonce) }
    const found = await readFile(file, 'utf8').catch(() => null)
    if (found === null) continue
    const owner = parse(found)
    if (owner !== null && isAlive(owner)) {
      const who = owner.pid === process.pid ? `this process (${owner.pid}), through another app instance` : `process ${owner.pid}`
      throw new SpoolInUse(`spool folder ${spoolDir} is in use by ${who} (lock ${file}). Two processes must never share a spool folder: give each its own DATA_DIR. If process ${owner.pid} is not callgate, delete the lock file.`)
    }
    // Removed only if still the stale content just read, not a lock another process has just made.
    if (await readFile(file, 'utf8').catch(() => null) === found) await unlink(file).catch(() => {})
  }
  throw new SpoolInUse(`spool folder ${spoolDir}: another process keeps taking the lock ${file}`)
}

/**
 * Creates the lock with its content in one step (a temporary file, hard-linked into place;
 * link fails if the name exists), so no reader ever sees an empty lock.
 */
async function create (file: string, content: string): Promise<boolean> {
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`
  await writeFile(tmp, content, { mode: 0o600 })
  try {
    await link(tmp, file)
    return true
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false
    throw err
  } finally {
    await unlink(tmp).catch(() => {})
  }
}

async function release (file: string, nonce: string): Promise<void> {
  const owner = parse(await readFile(file, 'utf8').catch(() => ''))
  if (owner?.nonce === nonce) await unlink(file).catch(() => {})
}

function parse (text: string): Owner | null {
  try {
    const value = JSON.parse(text) as Partial<Owner>
    if (Number.isSafeInteger(value.pid) && typeof value.startedAt === 'number' && typeof value.nonce === 'string') return value as Owner
  } catch {}
  return null
}

function isAlive (owner: Owner): boolean {
  // Our own pid: a previous run of this container or machine (a server is often pid 1 every
  // time), unless the start time is ours too — then another app in this process holds it.
  if (owner.pid === process.pid) return owner.startedAt === performance.timeOrigin
  try {
    process.kill(owner.pid, 0)
    return true
  } catch (err) {
    // EPERM: the process exists, under another user.
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}
