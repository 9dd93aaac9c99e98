import { eq } from 'drizzle-orm'
import type { Executor } from './executor.js'
import { installationChecks } from './schema.js'

/**
 * The value stored under `name` by the first process that used this database; `value` is
 * stored when there is none yet (several processes may race: the first insert wins).
 */
export async function firstValue (db: Executor, name: string, value: string): Promise<string> {
  await db.insert(installationChecks).values({ name, value }).onConflictDoNothing()
  const [row] = await db.select({ value: installationChecks.value }).from(installationChecks).where(eq(installationChecks.name, name))
  return row!.value
}
