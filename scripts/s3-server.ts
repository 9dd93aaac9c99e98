// A standalone S3-protocol server (s3rver) on loopback, for running several callgate processes
// against one bucket without AWS: `npm run s3:serve -- [dir] [port] [bucket]`.
// Prints `listening http://127.0.0.1:<port>` once ready. Credentials: S3RVER / S3RVER.
import { mkdirSync } from 'node:fs'
import { resolve } from 'node:path'
import S3rver from 's3rver'

const directory = resolve(process.argv[2] ?? './data/s3-shared')
const port = Number(process.argv[3] ?? 0)
const bucket = process.argv[4] ?? 'callgate-recordings'
mkdirSync(directory, { recursive: true })
const server = new S3rver({ address: '127.0.0.1', port, silent: true, directory, configureBuckets: [{ name: bucket }] })
const address = await server.run()
console.log(`listening http://127.0.0.1:${address.port}`)
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => { server.close().then(() => process.exit(0), () => process.exit(1)) })
}
