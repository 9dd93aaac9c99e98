// What goes into and comes out of one engine step (one Twilio webhook).
import type { CampaignContext } from './definition.js'

/** Per-call state the route stores between webhooks (JSON-serialisable). */
export interface CallState {
  /** The node waiting for input (menu, consent, dial), null before the start and after the end. */
  node: string | null;
  /** Re-prompts already used, per waiting node. */
  retries: Record<string, number>;
  consent: 'unknown' | 'granted' | 'denied';
  /** Whether the engine has started the media stream and not stopped it. */
  recording: boolean;
  /** Nodes entered or resumed over the whole call. */
  steps: number;
  ended: boolean;
}

export function initialCallState (): CallState {
  return { node: null, retries: {}, consent: 'unknown', recording: false, steps: 0, ended: false }
}

export type FlowInput =
  /** `machine`: answering-machine detection says a machine answered this outbound call. */
  | { kind: 'start', machine?: boolean }
  /** `digits` '' or undefined means the caller pressed nothing. */
  | { kind: 'resume'; node: string; digits?: string; dialStatus?: string }

export interface FlowContext {
  now: Date;
  campaign: CampaignContext;
  /** Absolute URL that Twilio posts to when the node's <Gather>/<Dial> finishes. */
  flowUrl: (nodeId: string) => string;
  /** wss://… URL for <Stream url>. */
  streamUrl: string;
  /** Fresh one-time token, used only if this step starts the media stream. */
  streamToken: string;
  /**
   * false when the consent decision could not be stored: consent nodes then neither ask nor
   * grant, so nothing is recorded without evidence. Default true.
   */
  consentWritable?: boolean;
  /**
   * false when the opt-out could not be stored: optout nodes then say their failure message
   * and emit no `suppress`. Default true.
   */
  optoutWritable?: boolean;
}

export type Effect =
  | { type: 'logEvent'; node: string; input?: string; outcome: string }
  | {
    type: 'recordConsent';
    node: string;
    granted: boolean;
    decision: 'granted' | 'denied' | 'noInput';
    digits: string | null;
    /** What the caller heard, kept as evidence. */
    prompt: string;
  }
  | { type: 'startRecording'; node: string; token: string }
  | { type: 'stopRecording'; node: string }
  | { type: 'suppress'; node: string; source: 'ivr' }
  | { type: 'dial'; node: string; to: string }
  | { type: 'hangup'; node: string }

export type EffectType = Effect['type']

export interface StepResult {
  twiml: string;
  nextState: CallState;
  /** In the order they happened; see engine.ts for which ones the route persists first. */
  effects: Effect[];
}
