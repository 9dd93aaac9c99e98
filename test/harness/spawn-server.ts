// The one way a test runs src/server.ts (or another script of the repository) as a child process,
// as `npm start` runs it: on 127.0.0.1, its output captured, killed at teardown. What a test
// asserts about the process (its output, its exit code) it reads from the handle.
import { spawn, type ChildProcess } from 'node:child_process'
import { freePort } from './ports.js'

interface Teardown { teardown (fn: () => unknown): void }

export const ROOT = new URL('../../', import.meta.url).pathname

/** What tells that the process is up: a path that answers 2xx, or a line it prints on stdout. */
export type Readiness = { path: string } | { line: RegExp }

export interface SpawnOptions {
  /**
   * Added to this process's environment (a value `undefined` removes the variable). PORT is set
   * to the server's port; nothing else is added.
   */
  env?: Record<string, string | undefined>
  /** The script to run, relative to the repository (default src/server.ts). */
  script?: string
  args?: string[]
  /**
   * 'test' (default): the test runner's own TypeScript loader, whose transform lets the child's
   * coverage merge with the in-process coverage. 'tsx': as `npm start` runs it (starts faster).
   */
  loader?: 'test' | 'tsx'
  /** A port chosen beforehand (a restart on the same port, a PUBLIC_URL naming it); else a free one. */
  port?: number
  /** Default { path: '/healthz' }; null: do not wait. */
  ready?: Readiness | null
  /** How long readiness is waited for (default 60 s: on a loaded 2-core machine a start has taken more than 30 s). */
  timeoutMs?: number
  /** Say on stderr, with the last output, when the process exits without being told to. */
  reportUnexpectedExit?: boolean
}

export interface SpawnedServer {
  port: number
  /** http://127.0.0.1:<port> */
  url: string
  child: ChildProcess
  /** Everything printed on stdout (the JSON log) and stderr, separately. */
  stdout (): string
  stderr (): string
  /** The last 8 KB of both, interleaved as printed. */
  output (): string
  /** The exit code, or the signal's name when a signal ended it. */
  exited: Promise<number | string>
  /** Resolves once the process is ready (see SpawnOptions.ready); rejects, with its output, if it ended or took too long. */
  ready: Promise<void>
  /** Sends `signal` (default SIGKILL) unless it already ended; resolves with how it ended. */
  kill (signal?: NodeJS.Signals): Promise<number | string>
}

/** Starts the process (it is killed at teardown); await `ready` before talking to it. */
export async function spawnServer (t: Teardown, opts: SpawnOptions = {}): Promise<SpawnedServer> {
  const port = opts.port ?? await freePort()
  const env: NodeJS.ProcessEnv = { ...process.env, PORT: String(port) }
  for (const [name, value] of Object.entries(opts.env ?? {})) {
    if (value === undefined) delete env[name]
    else env[name] = value
  }
  const loader = opts.loader === 'tsx' ? ['--import', 'tsx'] : process.execArgv
  const child = spawn(process.execPath, [...loader, opts.script ?? 'src/server.ts', ...(opts.args ?? [])], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  let tail = ''
  let killed = false
  const keep = (chunk: Buffer) => { tail = (tail + chunk.toString()).slice(-8000) }
  child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString(); keep(chunk) })
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); keep(chunk) })
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(signal ?? code ?? 0)))
  if (opts.reportUnexpectedExit === true) {
    // A failure after it then says why the server went away.
    void exited.then((how) => { if (!killed) process.stderr.write(`server process exited by itself (${how}); its last output:\n${tail}\n`) })
  }
  const url = `http://127.0.0.1:${port}`
  const server: SpawnedServer = {
    port,
    url,
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    output: () => tail,
    exited,
    ready: waitReady(child, url, () => stdout, () => tail, opts.ready === undefined ? { path: '/healthz' } : opts.ready, opts.timeoutMs ?? 60_000),
    async kill (signal = 'SIGKILL') {
      killed = true
      if (child.exitCode === null && child.signalCode === null) child.kill(signal)
      return await exited
    }
  }
  // Whoever awaits `ready` sees its failure; nobody awaiting it is no unhandled rejection.
  server.ready.catch(() => {})
  t.teardown(() => server.kill())
  return server
}

async function waitReady (child: ChildProcess, url: string, stdout: () => string, tail: () => string, ready: Readiness | null, timeoutMs: number): Promise<void> {
  if (ready === null) return
  const ended = () => child.exitCode !== null || child.signalCode !== null
  const until = Date.now() + timeoutMs
  while (Date.now() < until) {
    if ('path' in ready ? await fetch(url + ready.path).then((r) => r.ok, () => false) : ready.line.test(stdout())) return
    if (ended()) throw new Error(`the server exited at start (${child.signalCode ?? child.exitCode}):\n${tail()}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  throw new Error(`the server was not ready in ${timeoutMs} ms:\n${tail()}`)
}
