import {
  GetBucketEncryptionCommand, GetBucketLifecycleConfigurationCommand, PutBucketEncryptionCommand,
  PutBucketLifecycleConfigurationCommand, type ServerSideEncryptionConfiguration
} from '@aws-sdk/client-s3'
import { canonicalJson } from '../audit/append.js'
import { lifecycleConfiguration } from './lifecycle.js'
import type { S3Connection } from './object-store.js'

export type PolicyOutcome = 'unchanged' | 'updated' | 'unsupported'

export interface PolicyReport {
  lifecycle: PolicyOutcome
  encryption: PolicyOutcome
  document: ReturnType<typeof lifecycleConfiguration>
  changes: string[]
}

const unsupported = (err: unknown) => {
  const e = err as { name?: string, $metadata?: { httpStatusCode?: number } }
  return e.name === 'NotImplemented' || e.$metadata?.httpStatusCode === 501 || e.$metadata?.httpStatusCode === 405
}

/**
 * Puts the lifecycle rules and default encryption the bucket should have; idempotent. An
 * administrator's step (`npm run bucket:apply`), not the runtime's: it speaks S3 directly over a
 * connection rather than through ObjectStore, whose interface is what the server needs per object.
 */
export async function applyBucketPolicy (store: Pick<S3Connection, 'client' | 'bucket'>, retentionDays: number[], sseKmsKeyId: string | null): Promise<PolicyReport> {
  const document = lifecycleConfiguration(retentionDays)
  const report: PolicyReport = { lifecycle: 'unchanged', encryption: 'unchanged', document, changes: [] }

  let current: Array<{ ID?: string }> = []
  try {
    current = (await store.client.send(new GetBucketLifecycleConfigurationCommand({ Bucket: store.bucket }))).Rules ?? []
  } catch (err) {
    if (unsupported(err)) report.lifecycle = 'unsupported'
    else if ((err as { name?: string }).name !== 'NoSuchLifecycleConfiguration') throw err
  }
  if (report.lifecycle !== 'unsupported') {
    const byId = new Map(current.map((r) => [r.ID, canonicalJson(r)]))
    for (const rule of document.Rules!) {
      const before = byId.get(rule.ID)
      if (before === undefined) report.changes.push(`add rule ${rule.ID}`)
      else if (before !== canonicalJson(rule)) report.changes.push(`change rule ${rule.ID}`)
      byId.delete(rule.ID)
    }
    for (const id of byId.keys()) report.changes.push(`remove rule ${String(id)}`)
    if (report.changes.length > 0) {
      try {
        await store.client.send(new PutBucketLifecycleConfigurationCommand({ Bucket: store.bucket, LifecycleConfiguration: document }))
        report.lifecycle = 'updated'
      } catch (err) {
        if (!unsupported(err)) throw err
        report.lifecycle = 'unsupported'
      }
    }
  }

  const wanted: ServerSideEncryptionConfiguration = {
    Rules: [{ ApplyServerSideEncryptionByDefault: sseKmsKeyId !== null ? { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: sseKmsKeyId } : { SSEAlgorithm: 'AES256' }, BucketKeyEnabled: sseKmsKeyId !== null }]
  }
  try {
    const have = (await store.client.send(new GetBucketEncryptionCommand({ Bucket: store.bucket }))).ServerSideEncryptionConfiguration
    if (canonicalJson(have?.Rules?.[0]?.ApplyServerSideEncryptionByDefault ?? null) === canonicalJson(wanted.Rules![0]!.ApplyServerSideEncryptionByDefault)) return report
  } catch (err) {
    if (unsupported(err)) {
      report.encryption = 'unsupported'
      return report
    }
  }
  try {
    await store.client.send(new PutBucketEncryptionCommand({ Bucket: store.bucket, ServerSideEncryptionConfiguration: wanted }))
    report.encryption = 'updated'
    report.changes.push(`default encryption ${sseKmsKeyId !== null ? `SSE-KMS (${sseKmsKeyId})` : 'SSE-S3'}`)
  } catch (err) {
    if (!unsupported(err)) throw err
    report.encryption = 'unsupported'
  }
  return report
}
