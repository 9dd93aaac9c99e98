/** Where Twilio posts when a flow node's <Gather>/<Dial> finishes. */
export const flowUrl = (publicUrl: string, node: string) => `${publicUrl}/twilio/flow?node=${encodeURIComponent(node)}`

/** The media-stream URL as emitted in <Stream url>, and as Twilio signs the upgrade. */
export const streamUrl = (publicUrl: string) => `${publicUrl.replace(/^http/, 'ws')}/twilio/media`
