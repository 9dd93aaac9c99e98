import { createServer } from 'node:net'

/** A TCP port free on 127.0.0.1 at the time of asking (for a server the test starts). */
export async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number }
      s.close(() => resolve(port))
    }).on('error', reject)
  })
}
