import { createHash } from 'node:crypto'
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { extname, join, relative, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'

export interface ConsoleRoutesOptions {
  /** The Vite build output; console/dist of this checkout unless a test names another. */
  dir?: string
}

interface Asset { body: Buffer, type: string, etag: string, immutable: boolean }

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.woff2': 'font/woff2'
}

const MISSING = 'the console is not built: run `npm run build:console` (npm ci and npm install run it too)'

export const defaultConsoleDir = fileURLToPath(new URL('../../console/dist/', import.meta.url))

/** Reads the whole build into memory: a few small files, served many times. */
function loadAssets (dir: string): Map<string, Asset> | null {
  if (!existsSync(join(dir, 'index.html'))) return null
  const assets = new Map<string, Asset>()
  const walk = (folder: string): void => {
    for (const name of readdirSync(folder)) {
      const file = join(folder, name)
      if (statSync(file).isDirectory()) { walk(file); continue }
      const path = relative(dir, file).split(sep).join('/')
      const body = readFileSync(file)
      assets.set(path, {
        body,
        type: TYPES[extname(name).toLowerCase()] ?? 'application/octet-stream',
        etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`,
        // Vite puts a content hash in every name under assets/: a new build means new names.
        immutable: path.startsWith('assets/')
      })
    }
  }
  walk(dir)
  return assets
}

/** GET /console: the admin console's static files (built by Vite into console/dist). */
const consoleRoutes: FastifyPluginAsyncTypebox<ConsoleRoutesOptions> = async (app, opts) => {
  const dir = opts.dir ?? defaultConsoleDir
  let assets = loadAssets(dir)

  const schema = {
    summary: 'The admin console (a single-page app; sign in with an API key)',
    tags: ['console'],
    security: [],
    response: {
      200: { description: 'a file of the console', content: { 'text/html': { schema: Type.String() }, '*/*': { schema: Type.String({ format: 'binary' }) } } },
      304: { description: 'not modified', type: 'null' },
      404: Type.Ref('ErrorReply'),
      503: Type.Ref('ErrorReply')
    }
  }

  // "/console" and "/console/": the app itself; anything below it: one of its files.
  for (const url of ['/console', '/console/*']) {
    app.get(url, {
      schema: { ...schema, params: Type.Object({ '*': Type.Optional(Type.String({ maxLength: 500 })) }) }
    }, async (request, reply) => {
      // A build made after start is picked up without a restart; a missing one is looked for again.
      assets ??= loadAssets(dir)
      if (assets === null) return reply.code(503).header('cache-control', 'no-store').send({ statusCode: 503, code: 'CG_CONSOLE_NOT_BUILT', error: 'Service Unavailable', message: MISSING })
      const path = request.params['*'] ?? ''
      // Paths without a file extension are the app's own pages: they all get index.html.
      const asset = assets.get(path) ?? (extname(path) === '' ? assets.get('index.html') : undefined)
      if (asset === undefined) return reply.code(404).send({ statusCode: 404, code: 'CG_NOT_FOUND', error: 'Not Found', message: `console/${path} not found` })
      // Security headers (CSP, nosniff, no framing, no referrer) come from @fastify/helmet in app.ts, as for every route.
      reply
        .header('cache-control', asset.immutable ? 'public, max-age=31536000, immutable' : 'no-cache')
        .header('etag', asset.etag)
      if (request.headers['if-none-match'] === asset.etag) return reply.code(304).send()
      return reply.code(200).type(asset.type).send(asset.body)
    })
  }
}

export default consoleRoutes
