import { chmodSync, lstatSync, mkdirSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'

/** DATA_DIR is not this user's to use: start-up stops with this message. */
export class DataDirRefused extends Error {}

/**
 * Creates DATA_DIR (0700) or checks an existing one before anything is read from it: it holds the
 * secrets, the keyring and the recordings, so a folder another user owns (and can change or
 * read) is refused rather than trusted. The folder itself is made 0700, which alone shuts every
 * other user out of what is inside.
 */
export function claimDataDir (dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  // stat, not lstat: DATA_DIR may be a symlink the administrator made to a volume.
  const st = statSync(dir)
  if (!st.isDirectory()) throw new DataDirRefused(`DATA_DIR ${dir} is not a directory`)
  const uid = process.getuid?.()
  if (uid !== undefined && st.uid !== uid) {
    throw new DataDirRefused(`DATA_DIR ${dir} is owned by uid ${st.uid}, not by the user this server runs as (uid ${uid}): refusing to keep secrets and recordings in it; chown it to this user or choose another DATA_DIR`)
  }
  if ((st.mode & 0o777) !== 0o700) chmodSync(dir, 0o700)
}

/**
 * Takes group and other permissions off everything below `dir`: folders become 0700, files 0600.
 * Symlinks are neither followed nor changed, so a link cannot turn this into a chmod of a file
 * elsewhere. A file this user may not chmod (another user's) stops start-up.
 */
export function tightenDataDir (dir: string): void {
  let names: string[]
  try {
    names = readdirSync(dir)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return
    throw err
  }
  for (const name of names) {
    const path = join(dir, name)
    let st
    try {
      st = lstatSync(path)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue
      throw err
    }
    if (st.isSymbolicLink()) continue
    if ((st.mode & 0o077) !== 0) {
      try {
        chmodSync(path, st.mode & 0o700)
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code
        if (code === 'ENOENT') continue
        if (code === 'EPERM') throw new DataDirRefused(`${path} (mode ${(st.mode & 0o777).toString(8)}, owner uid ${st.uid}) cannot be made private by this user: chown DATA_DIR's contents to the user this server runs as`)
        throw err
      }
    }
    if (st.isDirectory()) tightenDataDir(path)
  }
}
