// What a production install (npm ci --omit=dev) gets: no test tools, and the packages whose
// internals the code replays pinned exactly (see README, Set up).
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'

const root = new URL('../', import.meta.url)
const pkg = JSON.parse(readFileSync(new URL('package.json', root), 'utf8'))
const lock = JSON.parse(readFileSync(new URL('package-lock.json', root), 'utf8'))
const TEST_TOOLS = ['tap', 'playwright-core', 'autocannon', '@types/autocannon']

function sources (dir: URL): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && /\.(ts|js|mjs|tsx)$/.test(e.name))
    .map((e) => readFileSync(join(e.parentPath, e.name), 'utf8'))
}

t.test('test tools are development dependencies, and production code imports none', async (t) => {
  for (const name of TEST_TOOLS) {
    t.notOk(name in pkg.dependencies, `${name} is not a production dependency`)
    t.ok(name in pkg.devDependencies, `${name} is a development dependency`)
  }
  const imports = /(?:from|import\()\s*['"]([^'"]+)['"]/g
  for (const dir of ['src/', 'scripts/', 'console/src/']) {
    const used = new Set(sources(new URL(dir, root)).flatMap((text) => [...text.matchAll(imports)].map((m) => m[1]!)))
    t.same([...used].filter((spec) => TEST_TOOLS.some((tool) => spec === tool || spec.startsWith(tool + '/'))), [], `${dir} imports no test tool`)
  }
  // npm start runs tsx; the prepare script builds the console with vite.
  t.ok('tsx' in pkg.dependencies && 'vite' in pkg.dependencies, 'tsx and vite stay: start and the console build need them')
})

t.test('@aws-crypto packages are pinned together while the frame sealer imports their files', async (t) => {
  const installed = Object.entries(lock.packages as Record<string, { version: string }>)
    .filter(([path]) => /(^|\/)node_modules\/@aws-crypto\/[^/]+$/.test(path))
    .map(([path, entry]) => [path.slice(path.lastIndexOf('@aws-crypto/')), entry.version] as const)
  t.ok(installed.length > 5, `${installed.length} @aws-crypto packages in the lockfile`)
  const version = pkg.dependencies['@aws-crypto/client-node']
  t.match(version, /^\d+\.\d+\.\d+$/, 'client-node is pinned to an exact version')
  t.equal(pkg.dependencies['@aws-crypto/encrypt-node'], version, 'encrypt-node (whose build/ files src/crypto imports) to the same')
  for (const [name, v] of installed) {
    t.equal(pkg.overrides?.[name], version, `overrides pins ${name}`)
    t.equal(v, version, `${name} is installed at ${version}`)
  }
})
