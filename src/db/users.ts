import { and, eq, isNull } from 'drizzle-orm'
import type { Executor as Db } from './executor.js'
import { tenants, users, type Role } from './schema.js'

export interface User {
  id: string
  tenantId: string
  role: Role
  name: string
  email: string
  keyPrefix: string
  createdAt: Date
  revokedAt: Date | null
}

const columns = {
  id: users.id,
  tenantId: users.tenantId,
  role: users.role,
  name: users.name,
  email: users.email,
  keyPrefix: users.keyPrefix,
  createdAt: users.createdAt,
  revokedAt: users.revokedAt
}

export async function createTenant (db: Db, tenant: { name: string, kmsKeyId: string | null }): Promise<{ id: string }> {
  const [row] = await db.insert(tenants).values(tenant).returning({ id: tenants.id })
  return row!
}

export async function tenantExists (db: Db, id: string): Promise<boolean> {
  const rows = await db.select({ id: tenants.id }).from(tenants).where(eq(tenants.id, id))
  return rows.length > 0
}

export async function createUser (db: Db, user: { tenantId: string, role: Role, name: string, email: string, keyHash: string, keyPrefix: string }): Promise<User> {
  const [row] = await db.insert(users).values(user).returning(columns)
  return row!
}

/** The active user holding this key hash; revoked users are never returned. */
export async function findActiveUserByKeyHash (db: Db, keyHash: string): Promise<User | null> {
  const rows = await db.select(columns).from(users).where(and(eq(users.keyHash, keyHash), isNull(users.revokedAt)))
  return rows[0] ?? null
}

export async function findUser (db: Db, id: string, tenantScope: string | null): Promise<User | null> {
  const rows = await db.select(columns).from(users)
    .where(and(eq(users.id, id), tenantScope === null ? undefined : eq(users.tenantId, tenantScope)))
  return rows[0] ?? null
}

/** Replaces the key hash: the old key stops working with this write. */
export async function replaceKey (db: Db, id: string, keyHash: string, keyPrefix: string, at: Date): Promise<boolean> {
  const rows = await db.update(users).set({ keyHash, keyPrefix, keyRotatedAt: at })
    .where(and(eq(users.id, id), isNull(users.revokedAt))).returning({ id: users.id })
  return rows.length > 0
}

export async function revokeUser (db: Db, id: string, at: Date): Promise<boolean> {
  const rows = await db.update(users).set({ revokedAt: at })
    .where(and(eq(users.id, id), isNull(users.revokedAt))).returning({ id: users.id })
  return rows.length > 0
}
