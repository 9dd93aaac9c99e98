import { Type, type Static } from 'typebox'

const HHMM = Type.String({ pattern: '^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$', description: 'HH:MM in the campaign timezone; 24:00 allowed as an end' })
const Interval = Type.Tuple([HHMM, HHMM], { description: '[start, end]; an end before its start runs overnight' })
const DayHours = Type.Array(Interval, { maxItems: 12 })
export const E164 = Type.String({ pattern: '^\\+[1-9][0-9]{7,14}$', description: 'E.164 phone number' })

export const WeeklyHoursSchema = Type.Object({
  mon: Type.Optional(DayHours),
  tue: Type.Optional(DayHours),
  wed: Type.Optional(DayHours),
  thu: Type.Optional(DayHours),
  fri: Type.Optional(DayHours),
  sat: Type.Optional(DayHours),
  sun: Type.Optional(DayHours)
}, { additionalProperties: false })

const Days = (description: string) => Type.Integer({ minimum: 0, maximum: 3650, description })

export const RetentionSchema = Type.Object({
  recordingsDays: Days('recordings are deleted this many days after they are stored'),
  callLogDays: Days('call logs are deleted after this many days'),
  redactAfterDays: Days('personal data in call logs is redacted after this many days (at most callLogDays)')
}, { additionalProperties: false })

// GDPR Art. 6(1) lawful bases.
export const LAWFUL_BASES = ['consent', 'contract', 'legal_obligation', 'vital_interests', 'public_task', 'legitimate_interest'] as const

const Text = Type.String({ minLength: 1, maxLength: 10_000 })
export const LiaSchema = Type.Object({
  purpose: Text,
  necessity: Text,
  balancing: Text
}, { additionalProperties: false, description: 'legitimate-interest assessment' })

export const CallCapSchema = Type.Object({
  count: Type.Integer({ minimum: 1, maximum: 1000 }),
  perDays: Type.Integer({ minimum: 1, maximum: 3650 })
}, { additionalProperties: false })

const Seconds = Type.Number({ exclusiveMinimum: 0, maximum: 31_536_000, description: 'seconds' })
export const DiallerSchema = Type.Object({
  flowId: Type.String({ format: 'uuid', description: 'a flow of the campaign: its published version runs when the callee answers' }),
  callerId: Type.String({ pattern: '^\\+[1-9][0-9]{7,14}$', description: 'a number bound to the campaign, presented as caller ID (calling it back reaches the campaign\'s inbound flow)' }),
  maxConcurrent: Type.Integer({ minimum: 1, maximum: 1000, description: 'calls in progress at once, over all processes together' }),
  callsPerMinute: Type.Integer({ minimum: 1, maximum: 60_000, description: 'placements a minute, over all processes together' }),
  maxAttempts: Type.Integer({ minimum: 1, maximum: 20 }),
  retryAfterSeconds: Type.Object({ busy: Seconds, noAnswer: Seconds, failed: Seconds, machine: Seconds }, { additionalProperties: false }),
  machineDetection: Type.Union([Type.Literal('off'), Type.Literal('detect'), Type.Literal('message-end')]),
  abandonLimitPercent: Type.Number({ minimum: 0, maximum: 100, description: 'the dialler pauses itself when abandoned calls pass this share of live-answered calls over 24 h' })
}, { additionalProperties: false, description: 'how the campaign dials its contact list' })
export type Dialler = Static<typeof DiallerSchema>

const fields = {
  name: Type.String({ minLength: 1, maxLength: 200 }),
  timezone: Type.String({ minLength: 1, maxLength: 64, description: 'IANA time zone, e.g. Europe/London' }),
  hours: WeeklyHoursSchema,
  holidays: Type.Array(Type.String({ format: 'date' }), { maxItems: 1000, description: 'dates (YYYY-MM-DD) in the campaign timezone' }),
  switchboard: Type.Union([E164, Type.Null()]),
  retention: RetentionSchema,
  lawfulBasis: Type.Union(LAWFUL_BASES.map((b) => Type.Literal(b))),
  lia: Type.Union([LiaSchema, Type.Null()]),
  callCap: Type.Union([CallCapSchema, Type.Null()]),
  defaultCountry: Type.Union([Type.String({ pattern: '^[A-Z]{2}$', description: 'ISO 3166-1 alpha-2' }), Type.Null()]),
  endsAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  storeCallerNumber: Type.Boolean({ description: 'keep the caller number in clear; otherwise only its keyed hash' }),
  dialler: Type.Union([DiallerSchema, Type.Null()])
}

export const CampaignCreateSchema = Type.Object({
  tenantId: Type.Optional(Type.String({ format: 'uuid', description: 'admin only: the tenant to create it in' })),
  name: fields.name,
  timezone: fields.timezone,
  hours: Type.Optional(fields.hours),
  holidays: Type.Optional(fields.holidays),
  switchboard: Type.Optional(fields.switchboard),
  retention: fields.retention,
  lawfulBasis: fields.lawfulBasis,
  lia: Type.Optional(fields.lia),
  callCap: Type.Optional(fields.callCap),
  defaultCountry: Type.Optional(fields.defaultCountry),
  endsAt: Type.Optional(fields.endsAt),
  storeCallerNumber: Type.Optional(fields.storeCallerNumber)
}, { additionalProperties: false })
export type CampaignCreate = Static<typeof CampaignCreateSchema>

export const CampaignPatchSchema = Type.Object({
  name: Type.Optional(fields.name),
  timezone: Type.Optional(fields.timezone),
  hours: Type.Optional(fields.hours),
  holidays: Type.Optional(fields.holidays),
  switchboard: Type.Optional(fields.switchboard),
  retention: Type.Optional(fields.retention),
  lawfulBasis: Type.Optional(fields.lawfulBasis),
  lia: Type.Optional(fields.lia),
  callCap: Type.Optional(fields.callCap),
  defaultCountry: Type.Optional(fields.defaultCountry),
  endsAt: Type.Optional(fields.endsAt),
  storeCallerNumber: Type.Optional(fields.storeCallerNumber),
  dialler: Type.Optional(fields.dialler)
}, { additionalProperties: false, minProperties: 1 })
export type CampaignPatch = Static<typeof CampaignPatchSchema>

export const CampaignSchema = Type.Object({
  id: Type.String(),
  tenantId: Type.String(),
  name: fields.name,
  timezone: fields.timezone,
  hours: fields.hours,
  holidays: fields.holidays,
  switchboard: fields.switchboard,
  retention: fields.retention,
  lawfulBasis: Type.String(),
  lia: fields.lia,
  callCap: fields.callCap,
  defaultCountry: fields.defaultCountry,
  endsAt: Type.Union([Type.String(), Type.Null()]),
  storeCallerNumber: Type.Boolean(),
  dialler: fields.dialler,
  createdAt: Type.String(),
  updatedAt: Type.String()
})
export type Campaign = Static<typeof CampaignSchema>
export type WeeklyHours = Static<typeof WeeklyHoursSchema>
export type Retention = Static<typeof RetentionSchema>
