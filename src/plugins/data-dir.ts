import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import fp from 'fastify-plugin'
import { claimDataDir, tightenDataDir } from '../data-dir-access.js'
import { lockSpool } from '../recording/spool-lock.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** DATA_DIR/spool, owned by this process alone. */
    spoolDir: string
  }
}

/**
 * Takes DATA_DIR for this process before anything opens what is in it: the embedded database's
 * files must never be opened by two processes, and a spool's .part files are then either ours
 * or a dead process's. The lock is released last, once the other plugins have closed.
 */
export default fp(async (app) => {
  const { dataDir } = app.config
  // Checked again here (loadConfig did at first) because this is where the app starts using it;
  // then everything an older version or another umask left readable is made private (0700/0600).
  claimDataDir(dataDir)
  tightenDataDir(dataDir)
  const spoolDir = join(dataDir, 'spool')
  // Created once here, not on every stream: only ciphertext is ever written into it.
  await mkdir(spoolDir, { recursive: true, mode: 0o700 })
  const lock = await lockSpool(spoolDir)
  app.decorate('spoolDir', spoolDir)
  // PGlite sets 0666 on the files it creates whatever the umask: DATA_DIR's 0700 already keeps
  // other users out, and its files are made 0600 again once everything is open.
  app.addHook('onReady', async () => { tightenDataDir(join(dataDir, 'pglite')) })
  app.addHook('onClose', async () => { await lock.release() })
}, { name: 'data-dir', dependencies: ['core'] })
