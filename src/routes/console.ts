import { existsSync } from 'node:fs'
import { extname, join, relative, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import fastifyStatic from '@fastify/static'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { ConsoleNotBuilt, NotFound } from '../errors.js'

export interface ConsoleRoutesOptions {
  /** The Vite build output; console/dist of this checkout unless a test names another. */
  dir?: string
}

const MISSING = 'the console is not built: run `npm run build:console` (npm ci and npm install run it too)'
// Vite puts a content hash in every name under assets/: a new build means new names.
const IMMUTABLE = 'public, max-age=31536000, immutable'

export const defaultConsoleDir = fileURLToPath(new URL('../../console/dist/', import.meta.url))

/**
 * GET /console: the admin console's static files (built by Vite into console/dist), sent by
 * @fastify/static (content type, ETag and 304, ranges, paths kept inside the folder). Read from
 * disk on each request, so a build made after start is served without a restart.
 */
const consoleRoutes: FastifyPluginAsyncTypebox<ConsoleRoutesOptions> = async (app, opts) => {
  const dir = opts.dir ?? defaultConsoleDir
  // Only reply.sendFile: the routes below carry the 503, the single-page fallback and a schema for /docs.
  await app.register(fastifyStatic, {
    serve: false,
    root: dir,
    dotfiles: 'ignore',
    cacheControl: false,
    // Called once a file is chosen (not for a 404): the page is revalidated on every load so a new
    // build shows at once; hashed assets are cached for good.
    setHeaders: (reply, file) => {
      reply.header('cache-control', relative(dir, file).startsWith('assets' + sep) ? IMMUTABLE : 'no-cache')
      // send's mime table still says application/javascript; RFC 9239 made text/javascript the type.
      if (/\.m?js$/i.test(file)) reply.header('content-type', 'text/javascript; charset=utf-8')
    }
  })

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
      if (!existsSync(join(dir, 'index.html'))) {
        reply.header('cache-control', 'no-store')
        throw new ConsoleNotBuilt(MISSING)
      }
      const path = request.params['*'] ?? ''
      // Paths without a file extension are the app's own pages: they all get index.html.
      const page = extname(path) === ''
      if (!page && path.split('/').some((segment) => segment === '..' || segment.startsWith('.'))) {
        throw new NotFound(`console/${path}`)
      }
      // Security headers (CSP, nosniff, no framing, no referrer) come from @fastify/helmet in app.ts, as for every route.
      return reply.sendFile(page ? 'index.html' : path, dir)
    })
  }
}

export default consoleRoutes
