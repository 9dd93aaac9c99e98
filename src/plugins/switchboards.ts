import fp from 'fastify-plugin'
import { switchboardsByNumber } from '../db/numbers.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** number → its campaign's switchboard: lets the fallback forward calls without the database. */
    switchboards: Map<string, string>
  }
}

const REFRESH_MS = 60_000

export default fp(async (app) => {
  const switchboards = new Map<string, string>()
  app.decorate('switchboards', switchboards)

  const refresh = async () => {
    try {
      const fresh = await switchboardsByNumber(app.database.db)
      switchboards.clear()
      for (const [number, switchboard] of fresh) switchboards.set(number, switchboard)
    } catch (err) {
      // Keep the last good copy: the fallback is for exactly the time the database is away.
      app.log.warn({ err }, 'could not refresh the switchboard copy; keeping the previous one')
    }
  }
  let timer: NodeJS.Timeout | undefined
  app.addHook('onReady', async () => {
    await refresh()
    timer = setInterval(() => { void refresh() }, REFRESH_MS)
    timer.unref()
  })
  app.addHook('onClose', async () => { clearInterval(timer) })
}, { name: 'switchboards', dependencies: ['database'] })
