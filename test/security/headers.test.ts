// Issue 17, finding 17: security headers on every response (not only /console), from
// @fastify/helmet; a CSP the two pages (/docs and /console) live with; HSTS only over https.
import { existsSync } from 'node:fs'
import t from 'tap'
import { defaultConsoleDir } from '../../src/routes/console.js'
import { admin, build } from '../helper.js'

const URLS = ['/healthz', '/api/me', '/api/tenants', '/docs', '/docs/', '/docs/json', '/docs/static/swagger-ui-bundle.js', '/console', '/recordings/00000000-0000-4000-8000-000000000000?token=x', '/no-such-route']

function directives (csp: string | undefined): Map<string, string[]> {
  const map = new Map<string, string[]>()
  for (const part of (csp ?? '').split(';')) {
    const [name, ...values] = part.trim().split(/\s+/)
    if (name !== undefined && name !== '') map.set(name, values)
  }
  return map
}

t.test('every route: nosniff, never framed, no referrer, a strict CSP; HSTS under an https PUBLIC_URL', async (t) => {
  const app = await build(t)
  for (const url of URLS) {
    const res = await app.inject({ url, headers: url.startsWith('/api/tenants') ? admin : {} })
    t.equal(res.headers['x-content-type-options'], 'nosniff', `${url}: nosniff`)
    t.equal(res.headers['x-frame-options'], 'DENY', `${url}: X-Frame-Options DENY`)
    t.equal(res.headers['referrer-policy'], 'no-referrer', `${url}: no Referer (a link token must not travel on)`)
    const csp = directives(res.headers['content-security-policy'] as string | undefined)
    t.same(csp.get('frame-ancestors'), ["'none'"], `${url}: frame-ancestors 'none'`)
    t.same(csp.get('default-src'), ["'self'"], `${url}: default-src 'self'`)
    t.same(csp.get('script-src'), ["'self'"], `${url}: scripts from this server only, none inline`)
    t.same(csp.get('style-src'), ["'self'"], `${url}: styles from this server only, none inline`)
    t.same(csp.get('object-src'), ["'none'"], `${url}: no plugins`)
    t.equal(res.headers['strict-transport-security'], 'max-age=31536000; includeSubDomains', `${url}: HSTS`)
  }
})

t.test('an http PUBLIC_URL (the embedded default on localhost): no HSTS', async (t) => {
  const app = await build(t, { env: { PUBLIC_URL: 'http://127.0.0.1:3000' } })
  for (const url of ['/healthz', '/docs/', '/console']) {
    const res = await app.inject({ url })
    t.equal(res.headers['strict-transport-security'], undefined, `${url}: no HSTS over http`)
    const csp = directives(res.headers['content-security-policy'] as string | undefined)
    t.notOk(csp.has('upgrade-insecure-requests'), `${url}: the page's requests stay on http`)
    t.same(csp.get('frame-ancestors'), ["'none'"], `${url}: still never framed`)
    t.equal(res.headers['x-content-type-options'], 'nosniff')
  }
})

// Without a browser here, the next best check: the pages hold nothing this CSP would block
// (an inline script or style, an event-handler attribute, a resource from elsewhere).
t.test('/docs and /console hold nothing the CSP blocks', async (t) => {
  const app = await build(t)
  const pages = ['/docs/']
  if (existsSync(`${defaultConsoleDir}/index.html`)) pages.push('/console')
  for (const url of pages) {
    const res = await app.inject({ url })
    t.equal(res.statusCode, 200, url)
    const html = res.body
    for (const tag of html.match(/<script\b[^>]*>/g) ?? []) t.match(tag, /\ssrc="(\.|\/)[^"]*"/, `${url}: ${tag} loads a file from this server`)
    t.notMatch(html, /<style\b/, `${url}: no inline <style>`)
    t.notMatch(html, /\sstyle=/, `${url}: no style attribute`)
    t.notMatch(html, /\son[a-z]+=/, `${url}: no event-handler attribute`)
    t.notMatch(html, /(src|href)="(https?:)?\/\//, `${url}: nothing from another origin`)
  }
  const init = await app.inject({ url: '/docs/static/swagger-initializer.js' })
  t.match(init.body, /validatorUrl: null/, 'no validator badge, which would load an image from swagger.io')
})
