import { sql } from 'drizzle-orm'
import {
  bigint, bigserial, boolean, check, customType, index, integer, jsonb, pgTable, primaryKey, text, timestamp, uniqueIndex, uuid
} from 'drizzle-orm/pg-core'

const id = () => uuid('id').primaryKey().default(sql`gen_random_uuid()`)
const tenantId = () => uuid('tenant_id').notNull().references(() => tenants.id, { onDelete: 'cascade' })
// Identifiers that are only ever matched, never shown sorted to people: hashes, CallSids, E.164
// numbers. Compared byte by byte: under a database's default collation (C.UTF-8, en_US…) every
// comparison in their indexes goes through the C library's strcoll, which made a screening
// probe of the suppression index ~6× slower (measured: 27 µs against 4.4 µs a number at 1M rows).
const key = customType<{ data: string }>({ dataType: () => 'text COLLATE "C"' })
const createdAt = () => timestamp('created_at', { withTimezone: true }).notNull().defaultNow()

export const ROLES = ['admin', 'ops', 'agent', 'controller'] as const
export type Role = typeof ROLES[number]

export const tenants = pgTable('tenants', {
  id: id(),
  name: text('name').notNull(),
  // The tenant's own KMS key, when it has one: offboarding schedules its deletion.
  kmsKeyId: text('kms_key_id'),
  // Set when offboarding starts: its numbers stop taking calls and no new recording starts.
  offboardingSince: timestamp('offboarding_since', { withTimezone: true }),
  createdAt: createdAt()
})

// The tenant's key, wrapped by the installation key (or the tenant's own KMS key); it wraps every
// recording's data key. Deleting this row is what makes the tenant's ciphertext unreadable.
export const tenantKeys = pgTable('tenant_keys', {
  tenantId: uuid('tenant_id').primaryKey().references(() => tenants.id, { onDelete: 'cascade' }),
  // An AWS Encryption SDK message (base64) holding the 32-byte key.
  wrapped: text('wrapped').notNull(),
  wrappedBy: text('wrapped_by').notNull(),
  createdAt: createdAt()
})

// The processor's record that a tenant was handed its data and erased. Deliberately outside the
// tenant's own rows and free of its data: ids, times, counts, the export's digest.
export const tenantOffboardings = pgTable('tenant_offboardings', {
  tenantId: uuid('tenant_id').primaryKey(),
  actor: text('actor').notNull(),
  startedAt: timestamp('started_at', { withTimezone: true }).notNull(),
  rowsDeletedAt: timestamp('rows_deleted_at', { withTimezone: true }).notNull(),
  exportFile: text('export_file').notNull(),
  exportSha256: text('export_sha256').notNull(),
  exportBytes: bigint('export_bytes', { mode: 'number' }).notNull(),
  counts: jsonb('counts').$type<Record<string, number>>().notNull(),
  // The last entry of the tenant's audit chain, as handed over: the export's log must end here.
  auditHeadSeq: bigint('audit_head_seq', { mode: 'number' }).notNull(),
  auditHeadHash: text('audit_head_hash').notNull(),
  kmsKeyId: text('kms_key_id'),
  kmsDeletionDate: timestamp('kms_deletion_date', { withTimezone: true }),
  objectsDeleted: integer('objects_deleted'),
  completedAt: timestamp('completed_at', { withTimezone: true })
})

export const users = pgTable('users', {
  id: id(),
  tenantId: tenantId(),
  role: text('role').$type<Role>().notNull(),
  name: text('name').notNull(),
  email: text('email').notNull(),
  // SHA-256 of the API key: keys are 256-bit random, so a fast hash is enough and lookups stay indexed.
  keyHash: key('key_hash').notNull(),
  keyPrefix: text('key_prefix').notNull(),
  createdAt: createdAt(),
  keyRotatedAt: timestamp('key_rotated_at', { withTimezone: true }),
  revokedAt: timestamp('revoked_at', { withTimezone: true })
}, (t) => [
  uniqueIndex('users_key_hash_idx').on(t.keyHash),
  index('users_tenant_idx').on(t.tenantId),
  check('users_role_check', sql`${t.role} in ('admin', 'ops', 'agent', 'controller')`)
])

export const campaigns = pgTable('campaigns', {
  id: id(),
  tenantId: tenantId(),
  name: text('name').notNull(),
  timezone: text('timezone').notNull(),
  hours: jsonb('hours').$type<Record<string, [string, string][]>>().notNull(),
  holidays: jsonb('holidays').$type<string[]>().notNull(),
  switchboard: text('switchboard'),
  retention: jsonb('retention').$type<{ recordingsDays: number, callLogDays: number, redactAfterDays: number }>().notNull(),
  lawfulBasis: text('lawful_basis').notNull(),
  lia: jsonb('lia').$type<{ purpose: string, necessity: string, balancing: string } | null>(),
  callCap: jsonb('call_cap').$type<{ count: number, perDays: number } | null>(),
  defaultCountry: text('default_country'),
  endsAt: timestamp('ends_at', { withTimezone: true }),
  storeCallerNumber: boolean('store_caller_number').notNull().default(false),
  // The dialler's settings (DESIGN "Outbound campaigns"); null until the campaign dials a list.
  dialler: jsonb('dialler').$type<DiallerSettings | null>(),
  diallerState: text('dialler_state').$type<DiallerState>().notNull().default('idle'),
  diallerReason: text('dialler_reason'),
  createdAt: createdAt(),
  updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow()
}, (t) => [index('campaigns_tenant_idx').on(t.tenantId)])

export interface DiallerSettings {
  flowId: string
  callerId: string
  maxConcurrent: number
  callsPerMinute: number
  maxAttempts: number
  retryAfterSeconds: { busy: number, noAnswer: number, failed: number, machine: number }
  machineDetection: 'off' | 'detect' | 'message-end'
  abandonLimitPercent: number
}
export const DIALLER_STATES = ['idle', 'running', 'paused', 'completed', 'stopped'] as const
export type DiallerState = typeof DIALLER_STATES[number]
export const CONTACT_STATUSES = ['pending', 'scheduled', 'dialling', 'completed', 'exhausted', 'suppressed'] as const
export type ContactStatus = typeof CONTACT_STATUSES[number]

// A person a campaign's dialler is to call. The number has to be dialled, so it is kept, but only
// sealed under the tenant's key (crypto/field-cipher.ts: gone with the tenant key) and as its
// keyed hash, which is what screening, de-duplication and erasure match on.
export const contacts = pgTable('contacts', {
  id: id(),
  tenantId: tenantId(),
  campaignId: uuid('campaign_id').notNull().references(() => campaigns.id, { onDelete: 'cascade' }),
  numberHash: key('number_hash').notNull(),
  numberSealed: text('number_sealed').notNull(),
  // The controller's own id for the person (no names), and the person's time zone when it differs.
  reference: text('reference'),
  timezone: text('timezone'),
  status: text('status').$type<ContactStatus>().notNull().default('pending'),
  attempts: integer('attempts').notNull().default(0),
  lastOutcome: text('last_outcome'),
  nextAttemptAt: timestamp('next_attempt_at', { withTimezone: true }),
  createdAt: createdAt()
}, (t) => [
  uniqueIndex('contacts_campaign_hash_idx').on(t.campaignId, t.numberHash),
  index('contacts_campaign_status_idx').on(t.campaignId, t.status, t.nextAttemptAt),
  index('contacts_tenant_hash_idx').on(t.tenantId, t.numberHash),
  check('contacts_status_check', sql`${t.status} in ('pending', 'scheduled', 'dialling', 'completed', 'exhausted', 'suppressed')`)
])

export const flows = pgTable('flows', {
  id: id(),
  tenantId: tenantId(),
  campaignId: uuid('campaign_id').notNull().references(() => campaigns.id),
  name: text('name').notNull(),
  publishedVersion: integer('published_version'),
  createdAt: createdAt()
}, (t) => [index('flows_tenant_idx').on(t.tenantId)])

export const flowVersions = pgTable('flow_versions', {
  id: id(),
  tenantId: tenantId(),
  flowId: uuid('flow_id').notNull().references(() => flows.id, { onDelete: 'cascade' }),
  version: integer('version').notNull(),
  definition: jsonb('definition').notNull(),
  createdBy: uuid('created_by'),
  createdAt: createdAt(),
  publishedAt: timestamp('published_at', { withTimezone: true }),
  publishedBy: uuid('published_by')
}, (t) => [uniqueIndex('flow_versions_flow_version_idx').on(t.flowId, t.version)])

// A phone number the tenant owns at Twilio; the E.164 form is needed to route the call, so it is kept in clear.
export const numbers = pgTable('numbers', {
  id: id(),
  tenantId: tenantId(),
  number: key('number').notNull(),
  campaignId: uuid('campaign_id').notNull().references(() => campaigns.id),
  flowId: uuid('flow_id').notNull().references(() => flows.id),
  createdAt: createdAt()
}, (t) => [uniqueIndex('numbers_number_idx').on(t.number)])

export const calls = pgTable('calls', {
  id: id(),
  tenantId: tenantId(),
  callSid: key('call_sid').notNull(),
  direction: text('direction').notNull(),
  campaignId: uuid('campaign_id').references(() => campaigns.id),
  flowId: uuid('flow_id').references(() => flows.id),
  flowVersion: integer('flow_version'),
  // Keyed hash of the remote party: enough for suppression, caps and DSR matching.
  remoteHash: key('remote_hash').notNull(),
  // Only when the campaign has storeCallerNumber; null otherwise (data minimisation).
  remoteNumber: text('remote_number'),
  // The caller id was not a phone number (withheld, SIP, client): nothing to suppress or cap by.
  remoteWithheld: boolean('remote_withheld').notNull().default(false),
  localNumber: text('local_number').notNull(),
  // Details captured about the caller (e.g. a name); personal data, subject to rectification and redaction.
  attributes: jsonb('attributes').$type<Record<string, string>>().notNull().default({}),
  status: text('status').notNull(),
  state: jsonb('state').notNull(),
  stepSeq: integer('step_seq').notNull().default(0),
  // Webhook steps applied and the TwiML the last one answered. step_seq cannot serve: recording
  // and status events bump it between steps. Every flow URL carries the step that emitted it, so
  // a webhook Twilio retries is answered again from here instead of being run twice.
  lastStep: integer('last_step').notNull().default(0),
  lastTwiml: text('last_twiml'),
  startedAt: timestamp('started_at', { withTimezone: true }).notNull(),
  endedAt: timestamp('ended_at', { withTimezone: true }),
  durationSeconds: integer('duration_seconds'),
  redactedAt: timestamp('redacted_at', { withTimezone: true })
}, (t) => [
  uniqueIndex('calls_call_sid_idx').on(t.callSid),
  index('calls_tenant_remote_idx').on(t.tenantId, t.remoteHash)
])

export const callEvents = pgTable('call_events', {
  id: bigserial('id', { mode: 'number' }).primaryKey(),
  tenantId: tenantId(),
  callId: uuid('call_id').notNull().references(() => calls.id, { onDelete: 'cascade' }),
  seq: integer('seq').notNull(),
  node: text('node'),
  input: text('input'),
  outcome: text('outcome').notNull(),
  at: timestamp('at', { withTimezone: true }).notNull()
}, (t) => [index('call_events_call_idx').on(t.callId, t.seq)])

export const consents = pgTable('consents', {
  id: id(),
  tenantId: tenantId(),
  callId: uuid('call_id').notNull().references(() => calls.id, { onDelete: 'cascade' }),
  callSid: key('call_sid').notNull(),
  remoteHash: key('remote_hash').notNull(),
  campaignId: uuid('campaign_id').references(() => campaigns.id),
  flowId: uuid('flow_id').references(() => flows.id),
  flowVersion: integer('flow_version'),
  node: text('node').notNull(),
  prompt: text('prompt').notNull(),
  digits: text('digits'),
  decision: text('decision').notNull(),
  granted: boolean('granted').notNull(),
  // How consent was given: "ivr" (keypad) or "verbal" (attested by a named agent).
  method: text('method').notNull().default('ivr'),
  attestedBy: uuid('attested_by'),
  at: timestamp('at', { withTimezone: true }).notNull()
}, (t) => [index('consents_call_idx').on(t.callId)])

// One-time tokens that admit a media stream for a call; issued only when consent is granted.
export const streamTokens = pgTable('stream_tokens', {
  tokenHash: key('token_hash').primaryKey(),
  tenantId: tenantId(),
  callSid: key('call_sid').notNull(),
  createdAt: createdAt(),
  usedAt: timestamp('used_at', { withTimezone: true })
}, (t) => [
  // Every call's end expires its unused tokens: without it, a scan of every token ever issued.
  index('stream_tokens_call_sid_idx').on(t.callSid)
])

export const suppressions = pgTable('suppressions', {
  id: id(),
  tenantId: tenantId(),
  numberHash: key('number_hash').notNull(),
  source: text('source').notNull(),
  reason: text('reason'),
  callSid: key('call_sid'),
  createdBy: uuid('created_by'),
  createdAt: createdAt()
}, (t) => [uniqueIndex('suppressions_tenant_hash_idx').on(t.tenantId, t.numberHash, t.source)])

// Outbound call attempts, counted against the campaign's callCap. The dialler's attempts name
// their contact: such a row is written (and committed) before Twilio is asked to dial, so it is
// what keeps a crash or a race from dialling twice, and what maxConcurrent and callsPerMinute
// count across processes. It is in flight until settled with an outcome.
export const callAttempts = pgTable('call_attempts', {
  id: bigserial('id', { mode: 'number' }).primaryKey(),
  tenantId: tenantId(),
  campaignId: uuid('campaign_id').notNull().references(() => campaigns.id, { onDelete: 'cascade' }),
  numberHash: key('number_hash').notNull(),
  at: timestamp('at', { withTimezone: true }).notNull(),
  contactId: uuid('contact_id').references(() => contacts.id, { onDelete: 'cascade' }),
  callSid: key('call_sid'),
  outcome: text('outcome').$type<DialOutcome>(),
  settledAt: timestamp('settled_at', { withTimezone: true }),
  // When the outcome went into the audit log: a dialler turn audits the outcomes settled since
  // the last, in one entry, instead of every status callback taking the tenant's audit lock.
  auditedAt: timestamp('audited_at', { withTimezone: true })
}, (t) => [
  index('call_attempts_campaign_hash_idx').on(t.campaignId, t.numberHash, t.at),
  index('call_attempts_campaign_at_idx').on(t.campaignId, t.at).where(sql`${t.contactId} is not null`),
  index('call_attempts_call_sid_idx').on(t.callSid).where(sql`${t.callSid} is not null`),
  // Never two of the dialler's calls at once to one number in the tenant, whichever process dials.
  uniqueIndex('call_attempts_in_flight_idx').on(t.tenantId, t.numberHash).where(sql`${t.contactId} is not null and ${t.settledAt} is null`),
  index('call_attempts_unaudited_idx').on(t.id).where(sql`${t.contactId} is not null and ${t.settledAt} is not null and ${t.auditedAt} is null`)
])

export const DIAL_OUTCOMES = ['human', 'machine', 'busy', 'noAnswer', 'failed', 'abandoned', 'optedOut'] as const
export type DialOutcome = typeof DIAL_OUTCOMES[number]

export const recordings = pgTable('recordings', {
  id: id(),
  tenantId: tenantId(),
  callId: uuid('call_id').references(() => calls.id, { onDelete: 'set null' }),
  callSid: key('call_sid').notNull(),
  bucket: text('bucket').notNull(),
  key: text('key').notNull(),
  contentType: text('content_type').notNull().default('audio/basic'),
  channels: integer('channels').notNull().default(2),
  durationMs: bigint('duration_ms', { mode: 'number' }),
  plainBytes: bigint('plain_bytes', { mode: 'number' }),
  sha256: text('sha256'),
  keyId: text('key_id'),
  keyMetadata: jsonb('key_metadata'),
  status: text('status').notNull(),
  // Wall-clock time of the stream's first sample: maps an agent's pause to the audio timeline.
  startedAt: timestamp('started_at', { withTimezone: true }),
  retainUntil: timestamp('retain_until', { withTimezone: true }),
  legalHold: boolean('legal_hold').notNull().default(false),
  // Recovered from the spool after its process died mid-call: durationMs is what was saved.
  truncated: boolean('truncated').notNull().default(false),
  createdAt: createdAt(),
  deletedAt: timestamp('deleted_at', { withTimezone: true }),
  // A spooled recording's upload is claimed by a lease, not a row lock held through the transfer:
  // no transaction spans the S3 upload. A lease past its time (its process died) can be taken over.
  uploadLeaseOwner: text('upload_lease_owner'),
  uploadLeaseUntil: timestamp('upload_lease_until', { withTimezone: true })
}, (t) => [index('recordings_tenant_idx').on(t.tenantId), index('recordings_call_sid_idx').on(t.callSid)])

// Objects to delete once the transaction that gave them up has committed (an erasure, a
// retention sweep, a recording whose row went while it was uploading). A row here names no one:
// a bucket and a key. It goes when every version of the object has been deleted, so a failure
// (S3 unreachable) is finished by the next sweep or erasure.
export const objectDeletions = pgTable('object_deletions', {
  id: bigserial('id', { mode: 'number' }).primaryKey(),
  bucket: text('bucket').notNull(),
  key: text('key').notNull(),
  reason: text('reason').notNull(),
  requestedAt: timestamp('requested_at', { withTimezone: true }).notNull(),
  attempts: integer('attempts').notNull().default(0),
  lastError: text('last_error')
})

// Every signed link issued for a recording; its token names the row. The row is where a link is
// revoked and locked after wrong PINs, so every process sees it at once and a restart forgets
// nothing. The PIN itself is never stored: it is keyed into the token's MAC.
export const recordingLinks = pgTable('recording_links', {
  id: id(),
  recordingId: uuid('recording_id').notNull().references(() => recordings.id, { onDelete: 'cascade' }),
  // Audit actor of the issuer ("user:<id>" or "admin-token"), re-checked at every fetch.
  issuedBy: text('issued_by').notNull(),
  pin: boolean('pin').notNull(),
  expiresAt: timestamp('expires_at', { withTimezone: true }).notNull(),
  pinFailures: integer('pin_failures').notNull().default(0),
  lockedAt: timestamp('locked_at', { withTimezone: true }),
  revokedAt: timestamp('revoked_at', { withTimezone: true }),
  createdAt: createdAt()
}, (t) => [index('recording_links_recording_idx').on(t.recordingId)])

// Agents' pause / resume / stop of a live recording. The process holding the stream polls these,
// so a request may land on any instance; `at` places the cut on the recording's timeline.
export const recordingControls = pgTable('recording_controls', {
  id: bigserial('id', { mode: 'number' }).primaryKey(),
  tenantId: tenantId(),
  recordingId: uuid('recording_id').notNull().references(() => recordings.id, { onDelete: 'cascade' }),
  action: text('action').notNull(),
  at: timestamp('at', { withTimezone: true }).notNull(),
  createdBy: uuid('created_by')
}, (t) => [index('recording_controls_recording_idx').on(t.recordingId, t.id)])

// Append-only and hash-chained per tenant; seq orders the chain.
export const auditLog = pgTable('audit_log', {
  tenantId: uuid('tenant_id').notNull(),
  seq: bigint('seq', { mode: 'number' }).notNull(),
  at: timestamp('at', { withTimezone: true }).notNull(),
  actor: text('actor').notNull(),
  action: text('action').notNull(),
  subject: text('subject'),
  details: jsonb('details').notNull(),
  prevHash: text('prev_hash').notNull(),
  hash: text('hash').notNull()
}, (t) => [primaryKey({ columns: [t.tenantId, t.seq] })])

export const dsrRequests = pgTable('dsr_requests', {
  id: id(),
  tenantId: tenantId(),
  type: text('type').notNull(),
  numberHash: key('number_hash').notNull(),
  status: text('status').notNull(),
  requestedBy: uuid('requested_by'),
  result: jsonb('result'),
  createdAt: createdAt(),
  completedAt: timestamp('completed_at', { withTimezone: true })
}, (t) => [index('dsr_tenant_hash_idx').on(t.tenantId, t.numberHash)])

// What the first process stored about the installation's keys (fingerprints and a sealed probe,
// never the keys): every later process must match, or it refuses to start.
export const installationChecks = pgTable('installation_checks', {
  name: text('name').primaryKey(),
  value: text('value').notNull(),
  createdAt: createdAt()
})

// What happened, as the customer's systems are told it (events/catalogue.ts): written by
// events/emit.ts in the transaction of the change it reports, so a change that commits always
// has its event and one that rolls back has none. `seq` orders them; a call's events are written
// while its row is locked, so they are numbered in the order they happened. Ids, outcomes and
// references only: never a phone number, audio or a token.
export const events = pgTable('events', {
  id: id(),
  seq: bigserial('seq', { mode: 'number' }).notNull().unique(),
  tenantId: tenantId(),
  type: text('type').notNull(),
  // The call the event is about: a call's events are delivered in order.
  callSid: key('call_sid'),
  data: jsonb('data').notNull(),
  at: timestamp('at', { withTimezone: true }).notNull()
}, (t) => [index('events_tenant_seq_idx').on(t.tenantId, t.seq), index('events_at_idx').on(t.at)])

export const webhookEndpoints = pgTable('webhook_endpoints', {
  id: id(),
  tenantId: tenantId(),
  url: text('url').notNull(),
  // Event types, or ['*'] for all.
  events: text('events').array().notNull(),
  description: text('description'),
  // The signing secret (whsec_…), sealed with the tenant's field key: shown once, never again.
  secret: text('secret').notNull(),
  enabled: boolean('enabled').notNull().default(true),
  disabledReason: text('disabled_reason'),
  // Since when every delivery to it has failed (null: its last one succeeded): 3 days disable it.
  failingSince: timestamp('failing_since', { withTimezone: true }),
  createdBy: text('created_by').notNull(),
  createdAt: createdAt()
}, (t) => [index('webhook_endpoints_tenant_idx').on(t.tenantId)])

export const DELIVERY_STATUSES = ['pending', 'delivered', 'failed'] as const
export type DeliveryStatus = typeof DELIVERY_STATUSES[number]

// An event owed to one endpoint. Claimed by a lease, not a lock held through the POST: no
// transaction spans the request, and a lease past its time (its process died) is taken over.
export const webhookDeliveries = pgTable('webhook_deliveries', {
  id: id(),
  tenantId: tenantId(),
  endpointId: uuid('endpoint_id').notNull().references(() => webhookEndpoints.id, { onDelete: 'cascade' }),
  eventId: uuid('event_id').notNull().references(() => events.id, { onDelete: 'cascade' }),
  // The event's seq and call, copied: the order check reads the deliveries alone.
  seq: bigint('seq', { mode: 'number' }).notNull(),
  callSid: key('call_sid'),
  status: text('status').$type<DeliveryStatus>().notNull(),
  attempts: integer('attempts').notNull().default(0),
  nextAttemptAt: timestamp('next_attempt_at', { withTimezone: true }),
  leaseUntil: timestamp('lease_until', { withTimezone: true }),
  lastStatus: integer('last_status'),
  lastError: text('last_error'),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull(),
  deliveredAt: timestamp('delivered_at', { withTimezone: true })
}, (t) => [
  // The claim's order: due first, then in the order the events happened.
  index('webhook_deliveries_due_idx').on(t.nextAttemptAt, t.seq).where(sql`${t.status} = 'pending'`),
  index('webhook_deliveries_call_idx').on(t.endpointId, t.callSid, t.seq).where(sql`${t.status} = 'pending' and ${t.callSid} is not null`),
  index('webhook_deliveries_endpoint_idx').on(t.endpointId, t.createdAt),
  index('webhook_deliveries_event_idx').on(t.eventId)
])
