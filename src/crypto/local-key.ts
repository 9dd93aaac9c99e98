import { randomBytes } from 'node:crypto'
import { chmod, link, mkdir, open, readFile, unlink } from 'node:fs/promises'
import { join } from 'node:path'

export const LOCAL_KEY_BYTES = 32

/**
 * Returns the 32-byte wrapping key kept at DATA_DIR/keyring/<name>.key, creating it on first use.
 *
 * Losing or replacing this key makes every recording wrapped with it unreadable, so an existing
 * file is never overwritten: a malformed one is an error, not a reason to make a fresh key.
 */
export async function loadOrCreateLocalKey (dataDir: string, name: string): Promise<Buffer> {
  const dir = join(dataDir, 'keyring')
  await mkdir(dir, { recursive: true, mode: 0o700 })
  // mkdir's mode is ignored when the directory already exists; the key's neighbours stay private.
  await chmod(dir, 0o700)
  const file = join(dir, `${name}.key`)
  const existing = await readKey(file)
  if (existing) return existing

  const key = randomBytes(LOCAL_KEY_BYTES)
  const tmp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`
  const handle = await open(tmp, 'wx', 0o600)
  try {
    await handle.writeFile(key)
    // The key must be on disk before anything is encrypted under it.
    await handle.sync()
  } finally {
    await handle.close()
  }
  try {
    // link, not rename: both are atomic, but link refuses to replace a key that a concurrent
    // starter published a moment ago (rename would clobber it and orphan its recordings).
    await link(tmp, file)
    return key
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    const winner = await readKey(file)
    if (!winner) throw new Error(`local key ${file} vanished while being created`)
    return winner
  } finally {
    await unlink(tmp)
  }
}

async function readKey (file: string): Promise<Buffer | null> {
  let key: Buffer
  try {
    key = await readFile(file)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null
    throw err
  }
  if (key.length !== LOCAL_KEY_BYTES) {
    throw new Error(`local key ${file} holds ${key.length} bytes, expected ${LOCAL_KEY_BYTES}`)
  }
  return key
}
