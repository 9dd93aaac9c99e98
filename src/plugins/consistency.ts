import { createHmac, randomBytes } from 'node:crypto'
import fp from 'fastify-plugin'
import { openBuffer, sealBuffer } from '../crypto/envelope.js'
import { firstValue } from '../db/installation.js'

/** Raised at start when this process's keys differ from the ones the database was set up with. */
export class InconsistentInstallation extends Error {
  override name = 'InconsistentInstallation'
}

const fingerprint = (key: string, purpose: string) => createHmac('sha256', key).update(`callgate:${purpose}`).digest('hex')

/**
 * Several processes share one database only if they share its keys: a different number-hash key
 * would silently stop opt-outs from matching, a different link secret would break links made
 * elsewhere, a different installation key would leave tenant keys unreadable. Each is checked
 * against what the first process stored (fingerprints and a sealed probe, never the keys), and
 * a mismatch stops the process before it serves anything.
 */
export default fp(async (app) => {
  const { db } = app.database
  const { config } = app
  const checks: Array<[string, string, string]> = [
    ['number-hash-key', fingerprint(config.numberHashKey, 'number-hash-key'), 'NUMBER_HASH_KEY'],
    ['link-secret', fingerprint(config.linkSecret, 'link-secret'), 'LINK_SECRET']
  ]
  for (const [name, mine, variable] of checks) {
    if (await firstValue(db, name, mine) !== mine) {
      throw new InconsistentInstallation(`${variable} differs from the one this database was first used with: every process sharing it must have the same ${variable} (the first process's is in its DATA_DIR/secrets.json)`)
    }
  }
  if (config.kms.keyId !== null) {
    // No KMS call at start (KMS being down must not keep calls from being answered): the key id
    // is compared instead; KMS itself refuses a key it does not hold.
    if (await firstValue(db, 'installation-key-id', config.kms.keyId) !== config.kms.keyId) {
      throw new InconsistentInstallation(`KMS_KEY_ID differs from the one this database was first used with (${await firstValue(db, 'installation-key-id', config.kms.keyId)}): every process sharing it needs the same KMS_KEY_ID`)
    }
    return
  }
  const context = { purpose: 'installation-key-check' }
  const probe = await firstValue(db, 'installation-key', (await sealBuffer(app.keyring.keyring, randomBytes(16), context)).toString('base64'))
  try {
    await openBuffer(app.keyring.keyring, Buffer.from(probe, 'base64'), context)
  } catch (err) {
    throw new InconsistentInstallation(`the installation key (${app.keyring.keyId}) cannot open what the first process sealed in this database: every process sharing it needs the same KMS_KEY_ID, or the same DATA_DIR/keyring/local-1.key (${(err as Error).message})`)
  }
}, { name: 'consistency', dependencies: ['core', 'database', 'keys'] })
