// npm run bucket:apply — puts the recordings bucket's lifecycle rules (one expiration per
// retention window in use, old versions, abandoned multipart uploads) and default encryption.
// Idempotent: prints what changed. Exits 1 when the object store cannot take the rules.
import { join } from 'node:path'
import { loadConfig } from '../src/config.js'
import { openDatabase } from '../src/db/client.js'
import { retentionWindowsInUse } from '../src/db/campaigns.js'
import { applyBucketPolicy } from '../src/storage/bucket-policy.js'
import { connectS3 } from '../src/storage/object-store.js'

const config = loadConfig(process.env)
const database = await openDatabase({ url: config.databaseUrl, pgliteDir: join(config.dataDir, 'pglite') })
const store = await connectS3(config.s3, config.dataDir)
try {
  const windows = await retentionWindowsInUse(database.db)
  const report = await applyBucketPolicy(store, windows, config.s3.sseKmsKeyId)
  console.log(`bucket ${store.bucket}: retention windows in use ${windows.length > 0 ? windows.map((d) => `${d}d`).join(', ') : '(none)'}`)
  console.log(report.changes.length > 0 ? report.changes.map((c) => `  ${c}`).join('\n') : '  nothing to change')
  console.log(`lifecycle: ${report.lifecycle}; default encryption: ${report.encryption}`)
  if (report.lifecycle === 'unsupported' || report.encryption === 'unsupported') {
    console.log('This object store does not implement bucket lifecycle configuration (the embedded store, @20minutes/s3rver, does not);')
    console.log('the sweeper still enforces the windows. The lifecycle document it would send:')
    console.log(JSON.stringify(report.document, null, 2))
    process.exitCode = 1
  }
} finally {
  await store.close()
  await database.close()
}
