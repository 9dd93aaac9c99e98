// The flow definition that operations staff write (DESIGN.md, "Flow definition"), and the
// slice of a campaign the engine needs. The schemas describe shape only; the graph rules
// (targets exist, consent before record, no busy loops, …) live in validate.ts so that each
// one can report its own clear message.
import { Type, type Static } from 'typebox'

/** E.164: "+", a non-zero country code digit, 8 to 15 digits in all (ITU-T E.164 section 6). */
export const E164_PATTERN = /^\+[1-9]\d{7,14}$/

/** One key of a telephone keypad, as <Gather> reports it in Digits. */
export const DTMF_KEY = /^[0-9*#]$/

// Bounds on a definition, so that reading and validating one stays cheap whatever is sent.
/** Nodes in one flow: far above any hand-written flow, and a generated one still validates in milliseconds. */
export const MAX_NODES = 20_000
/** A node id; ids appear in callback URLs and logs. */
export const MAX_ID_LENGTH = 64
/** Spoken text: Twilio's basic voices say at most 4,096 characters (warning 13521). */
export const MAX_TEXT_LENGTH = 4096
/** A menu can only tell apart the twelve keys of a keypad: 0-9, * and #. */
export const MAX_MENU_OPTIONS = 12
export const MAX_URL_LENGTH = 2048

const NodeId = Type.String({ minLength: 1, maxLength: MAX_ID_LENGTH, description: 'id of a node in `nodes`' })
const Text = Type.String({ minLength: 1, maxLength: MAX_TEXT_LENGTH })
// A Twilio voice or language name, e.g. "Polly.Amy-Neural" or "en-GB".
const VoiceName = Type.String({ minLength: 1, maxLength: 64 })

// Twilio's <Gather timeout> is in seconds; a caller needs at least one.
const GatherTimeout = Type.Integer({ minimum: 1, maximum: 60 })
// Re-prompts after the first prompt before the no-input path is taken.
const Retries = Type.Integer({ minimum: 0, maximum: 10 })

export const SayNodeSchema = Type.Object(
  {
    type: Type.Literal('say'),
    text: Text,
    voice: Type.Optional(VoiceName),
    language: Type.Optional(VoiceName),
    next: Type.Optional(NodeId),
  },
  { additionalProperties: false }
)

export const PlayNodeSchema = Type.Object(
  {
    type: Type.Literal('play'),
    url: Type.String({ maxLength: MAX_URL_LENGTH, pattern: '^https?://\\S+$' }),
    next: Type.Optional(NodeId),
  },
  { additionalProperties: false }
)

export const MenuNodeSchema = Type.Object(
  {
    type: Type.Literal('menu'),
    prompt: Text,
    // Keys are DTMF digits; validate.ts checks them so the message can name the key.
    options: Type.Record(Type.String(), NodeId, { maxProperties: MAX_MENU_OPTIONS }),
    timeoutSeconds: Type.Optional(GatherTimeout),
    retries: Type.Optional(Retries),
    noInput: NodeId,
    invalidPrompt: Type.Optional(Text),
  },
  { additionalProperties: false }
)

export const ConsentNodeSchema = Type.Object(
  {
    type: Type.Literal('consent'),
    prompt: Text,
    grantDigit: Type.String(),
    denyDigit: Type.String(),
    granted: NodeId,
    denied: NodeId,
    noInput: NodeId,
    timeoutSeconds: Type.Optional(GatherTimeout),
    retries: Type.Optional(Retries),
  },
  { additionalProperties: false }
)

export const RecordNodeSchema = Type.Object(
  { type: Type.Literal('record'), next: NodeId },
  { additionalProperties: false }
)

export const StopRecordingNodeSchema = Type.Object(
  { type: Type.Literal('stopRecording'), next: NodeId },
  { additionalProperties: false }
)

export const DialNodeSchema = Type.Object(
  {
    type: Type.Literal('dial'),
    // E.164 or "switchboard"; validate.ts checks the number so the message can say why (and
    // quotes it: hence the bound).
    to: Type.String({ maxLength: 32 }),
    say: Type.Optional(Text),
    // Twilio's <Dial timeout> accepts 5-600 seconds.
    timeoutSeconds: Type.Optional(Type.Integer({ minimum: 5, maximum: 600 })),
    // Only the caller's own number may be presented, which is also Twilio's default.
    callerId: Type.Optional(Type.Literal('caller')),
    next: Type.Optional(NodeId),
  },
  { additionalProperties: false }
)

export const HoursNodeSchema = Type.Object(
  { type: Type.Literal('hours'), open: NodeId, closed: NodeId },
  { additionalProperties: false }
)

export const OptoutNodeSchema = Type.Object(
  {
    type: Type.Literal('optout'),
    say: Text,
    failSay: Type.Optional(Text),
    next: Type.Optional(NodeId),
  },
  { additionalProperties: false }
)

export const HangupNodeSchema = Type.Object(
  { type: Type.Literal('hangup'), say: Type.Optional(Text) },
  { additionalProperties: false }
)

/** One schema per node type, keyed by the `type` discriminator. */
export const NodeSchemas = {
  say: SayNodeSchema,
  play: PlayNodeSchema,
  menu: MenuNodeSchema,
  consent: ConsentNodeSchema,
  record: RecordNodeSchema,
  stopRecording: StopRecordingNodeSchema,
  dial: DialNodeSchema,
  hours: HoursNodeSchema,
  optout: OptoutNodeSchema,
  hangup: HangupNodeSchema,
} as const

export type NodeType = keyof typeof NodeSchemas
export const NODE_TYPES = Object.keys(NodeSchemas) as NodeType[]

export function isNodeType (value: unknown): value is NodeType {
  return typeof value === 'string' && Object.hasOwn(NodeSchemas, value)
}

export const FlowNodeSchema = Type.Union([
  SayNodeSchema,
  PlayNodeSchema,
  MenuNodeSchema,
  ConsentNodeSchema,
  RecordNodeSchema,
  StopRecordingNodeSchema,
  DialNodeSchema,
  HoursNodeSchema,
  OptoutNodeSchema,
  HangupNodeSchema,
])
export type FlowNode = Static<typeof FlowNodeSchema>
export type NodeOf<T extends NodeType> = Extract<FlowNode, { type: T }>

export const FlowDefinitionSchema = Type.Object(
  {
    start: NodeId,
    // Where an outbound call answered by a machine begins (answering-machine detection): a
    // message saying who called and how to opt out. Absent: such a call is hung up.
    machine: Type.Optional(NodeId),
    nodes: Type.Record(Type.String(), FlowNodeSchema, { maxProperties: MAX_NODES }),
  },
  { additionalProperties: false }
)
export type FlowDefinition = Static<typeof FlowDefinitionSchema>

// Campaign slice ----------------------------------------------------------------------------

/** "HH:MM" wall-clock time in the campaign timezone; validateHours checks the values. */
const Interval = Type.Tuple([Type.String(), Type.String()])
const DayIntervals = Type.Optional(Type.Array(Interval))

export const WeeklyHoursSchema = Type.Object(
  {
    mon: DayIntervals,
    tue: DayIntervals,
    wed: DayIntervals,
    thu: DayIntervals,
    fri: DayIntervals,
    sat: DayIntervals,
    sun: DayIntervals,
  },
  { additionalProperties: false }
)
export type WeeklyHours = Static<typeof WeeklyHoursSchema>
export type Weekday = keyof WeeklyHours
/** Index 0 is Sunday, as in Date#getUTCDay. */
export const WEEKDAYS: readonly Weekday[] = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat']

export const CampaignContextSchema = Type.Object({
  /** IANA zone, e.g. "Europe/London". */
  timezone: Type.String({ minLength: 1 }),
  hours: WeeklyHoursSchema,
  /** "YYYY-MM-DD" dates in the campaign timezone, closed all day. */
  holidays: Type.Array(Type.String({ pattern: '^\\d{4}-\\d{2}-\\d{2}$' })),
  /** E.164 number that `dial` nodes with to "switchboard" call. */
  switchboard: Type.Union([Type.String(), Type.Null()]),
})
export type CampaignContext = Static<typeof CampaignContextSchema>
