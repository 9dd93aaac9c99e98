// Builds the admin console into console/dist, which the server serves at /console
// (src/routes/console.ts). Everything is bundled: the page loads nothing from other origins.
import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vite'

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/console/',
  // Preact's automatic JSX runtime, without a framework plugin.
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    // The CSP has no 'unsafe-inline': keep scripts and styles as files, never inlined.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false }
  },
  logLevel: 'warn'
})
