/**
 * Where Twilio posts when a flow node's <Gather>/<Dial> finishes. `step` is the number of the
 * webhook step that emitted the URL: a request carrying it again is a retry (see calls/replay.ts).
 */
export const flowUrl = (publicUrl: string, node: string, step: number) => `${publicUrl}/twilio/flow?node=${encodeURIComponent(node)}&step=${step}`

/** The media-stream URL as emitted in <Stream url>, and as Twilio signs the upgrade. */
export const streamUrl = (publicUrl: string) => `${publicUrl.replace(/^http/, 'ws')}/twilio/media`
