import type { BucketLifecycleConfiguration, LifecycleRule } from '@aws-sdk/client-s3'

export const RETENTION_TAG = 'retention-days'

/**
 * The bucket's lifecycle rules: recordings expire by the retention tag written at upload (one
 * rule per window in use), old versions go a day after they stop being current, and multipart
 * uploads abandoned mid-way are cleaned up after a day. The sweeper enforces the same windows
 * from the database; these rules are the second line, inside S3 itself.
 */
export function lifecycleConfiguration (retentionDays: number[]): BucketLifecycleConfiguration {
  const windows = [...new Set(retentionDays.filter((d) => Number.isInteger(d) && d > 0))].sort((a, b) => a - b)
  const rules: LifecycleRule[] = windows.map((days) => ({
    ID: `callgate-retention-${days}d`,
    Status: 'Enabled',
    Filter: { Tag: { Key: RETENTION_TAG, Value: String(days) } },
    Expiration: { Days: days },
    NoncurrentVersionExpiration: { NoncurrentDays: 1 }
  }))
  rules.push({
    ID: 'callgate-abort-incomplete-uploads',
    Status: 'Enabled',
    Filter: { Prefix: '' },
    AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 },
    NoncurrentVersionExpiration: { NoncurrentDays: 1 }
  })
  return { Rules: rules }
}
