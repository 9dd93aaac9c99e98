import type { FastifyPluginAsync } from 'fastify'
import type { WebSocket } from 'ws'
import { isSupportedFormat, mediaAudio, parseFrame, type MediaFrame } from '../../recording/frames.js'
import type { OpenedRecording } from '../../recording/recorder.js'

// RFC 6455 §7.4.1: 1008 = policy violation, 1003 = unsupported data.
const POLICY_VIOLATION = 1008
const UNSUPPORTED = 1003
// ws waits 30 s for the peer to end its side after a close; a peer that never does is cut off sooner.
const CLOSE_GRACE_MS = 2000
// The socket is paused while the token is checked and the recording opened, so TCP, not this
// process, holds the audio that arrives meanwhile: only the frames already read with the start
// message (one socket read, a few dozen frames) wait here. Holding parsed frames instead cost
// ~1 KB each, 500 MB at 1,000 streams whose opening a busy database had slowed by 5 s.

export interface MediaRouteOptions {
  /** How long a socket may stay open without sending `start`. Default 10 s (Twilio sends it at once). */
  startTimeoutMs?: number
  /**
   * Sockets open at once whose stream token has not been accepted yet; a socket beyond this is
   * closed as soon as it opens. Default 200. Each holds memory and a connection until it proves
   * consent, and the upgrade's signature is replayable, so they are bounded.
   */
  maxUnauthenticated?: number
}

/**
 * Twilio Media Streams (https://www.twilio.com/docs/voice/media-streams/websocket-messages).
 * The upgrade is signature-checked by the /twilio hook; the `start` message must carry the
 * one-time token issued for this CallSid when the caller consented, or nothing is stored.
 */
const mediaRoute: FastifyPluginAsync<MediaRouteOptions> = async (app, opts) => {
  const startTimeoutMs = opts.startTimeoutMs ?? 10_000
  const maxUnauthenticated = opts.maxUnauthenticated ?? 200
  let unauthenticated = 0

  app.get('/media', { websocket: true, schema: { summary: 'Twilio Media Streams WebSocket (consent-gated recording)', tags: ['twilio'], hide: true } }, (socket: WebSocket, request) => {
    let log = request.log
    let recording: OpenedRecording | null = null
    let opening: Promise<void> | null = null
    let finalizing: Promise<unknown> | null = null
    const pending: MediaFrame[] = []
    let malformed = 0

    const push = (frame: MediaFrame) => {
      const audio = mediaAudio(frame)
      recording!.live.push(audio.track, audio.timestampMs, audio.payload)
    }
    const end = (code: number, reason: string) => {
      socket.close(code, reason)
      setTimeout(() => socket.terminate(), CLOSE_GRACE_MS).unref()
    }
    const refuse = (code: number, reason: string) => {
      log.warn({ reason }, 'media stream refused; nothing stored')
      end(code, reason)
    }

    if (unauthenticated >= maxUnauthenticated) {
      refuse(POLICY_VIOLATION, 'too many streams waiting to start')
      return
    }
    // Counted until its token is accepted or it closes, whichever comes first.
    unauthenticated++
    let counted = true
    const stopCounting = () => {
      if (counted) { counted = false; unauthenticated-- }
    }
    const startTimer = setTimeout(() => {
      if (opening === null) refuse(POLICY_VIOLATION, `no start message within ${startTimeoutMs} ms`)
    }, startTimeoutMs)
    startTimer.unref()
    const finalize = () => {
      finalizing ??= (async () => {
        await opening
        if (recording === null) return
        const outcome = await app.recorder.finalize(recording)
        log.info({ outcome, malformed }, 'media stream ended')
      })().catch((err: unknown) => { log.error({ err }, 'could not finalize a recording') })
      app.recordingsInFlight.add(finalizing)
      void finalizing.finally(() => app.recordingsInFlight.delete(finalizing!))
    }

    // Attached before anything is awaited: an early frame must not be missed.
    socket.on('message', (data: Buffer) => {
      const parsed = parseFrame(data.toString('utf8'))
      if (!parsed.ok) {
        malformed++
        return
      }
      const frame = parsed.frame
      switch (frame.event) {
        case 'connected':
        case 'mark':
          return
        case 'start': {
          if (opening !== null) { malformed++; return }
          clearTimeout(startTimer)
          const { callSid, customParameters, mediaFormat } = frame.start
          log = request.log.child({ callSid })
          if (!isSupportedFormat(mediaFormat)) { opening = Promise.resolve(); refuse(UNSUPPORTED, 'media format must be audio/x-mulaw 8000 Hz mono per track'); return }
          const token = customParameters?.token
          if (typeof token !== 'string' || token === '') { opening = Promise.resolve(); refuse(POLICY_VIOLATION, 'no stream token'); return }
          const stream = {
            onPressure: (pause: boolean) => { if (pause) socket.pause(); else socket.resume() },
            // Finalized now, not at the socket's 'close', which waits for the peer's side to end.
            close: () => { finalize(); end(1000, 'recording stopped') }
          }
          socket.pause()
          opening = app.recorder.open(callSid, token, stream).then((opened) => {
            // Resumed on refusal too, so the peer's close frame can be read.
            if (opened === null) { refuse(POLICY_VIOLATION, 'stream token refused'); socket.resume(); return }
            recording = opened
            stopCounting()
            for (const f of pending.splice(0)) push(f)
            socket.resume()
          }, (err: unknown) => {
            // Without the database there is no proof of consent: stop rather than record.
            log.error({ err }, 'could not open a recording')
            end(POLICY_VIOLATION, 'recording unavailable')
            socket.resume()
          })
          return
        }
        case 'media':
          // After `stop` the recording is being sealed: late audio is counted, never appended.
          if (finalizing !== null) malformed++
          else if (recording !== null) push(frame)
          else if (opening !== null && socket.readyState === socket.OPEN) pending.push(frame)
          else malformed++
          return
        case 'stop':
          finalize()
          return
        default: {
          const unknown: never = frame
          log.debug({ unknown }, 'unexpected media stream message')
          malformed++
        }
      }
    })
    // A stream that drops without `stop` still keeps what it has.
    socket.on('close', () => {
      clearTimeout(startTimer)
      stopCounting()
      finalize()
    })
    socket.on('error', (err) => { log.warn({ err }, 'media stream socket error') })
  })
}

export default mediaRoute
