// A standalone S3-protocol server (@20minutes/s3rver) on loopback, for running several callgate
// processes against one bucket without AWS: `npm run s3:serve -- [dir] [port] [bucket]`.
// It is the embedded store the server starts when S3_ENDPOINT is unset: objects in <dir>/s3, and
// it answers only requests signed with the credentials it generates into <dir>/s3-credentials.json
// (give them to the callgate processes as AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY).
// Prints `listening http://127.0.0.1:<port>` once ready.
import { resolve } from 'node:path'
import { startEmbeddedS3 } from '../src/storage/embedded-s3.js'

const dataDir = resolve(process.argv[2] ?? './data/s3-shared')
const port = Number(process.argv[3] ?? 0)
const bucket = process.argv[4] ?? 'callgate-recordings'
const store = await startEmbeddedS3({
  dataDir,
  port,
  buckets: [bucket],
  onError: (err) => { console.error('s3-server: request failed:', err) }
})
console.log(`listening ${store.endpoint}`)
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => { store.close().then(() => process.exit(0), () => process.exit(1)) })
}
