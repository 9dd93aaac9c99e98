import t from 'tap'
import { Assembler, type AssemblerOptions } from '../../src/recording/assembler.js'
import { isSupportedFormat, mediaAudio, parseFrame, type Track } from '../../src/recording/frames.js'

const STREAM = 'MZ18ad3ab5a668481ce02b83e7395059f0'
const CALL = 'CA2a7b8d5a0c1e4f6a9b3c5d7e9f1a2b3c'
const ACCOUNT = 'AC25e16e9a716a4a1786a7c83f58e30482'
const FRAME_MS = 20
const FRAME_BYTES = 160

/** Distinctive bytes per track and per frame, never 0xFF, so misplacement or silence shows. */
function payloadOf (track: Track, k: number, length = FRAME_BYTES): Buffer {
  const base = track === 'inbound' ? 0 : 128
  return Buffer.from(Array.from({ length }, (_, i) => base + ((k * 13 + i) % 127)))
}

function mediaMessage (track: Track, k: number, seq: number, payload = payloadOf(track, k)): string {
  return JSON.stringify({
    event: 'media',
    sequenceNumber: String(seq),
    media: { track, chunk: String(k + 1), timestamp: String(k * FRAME_MS), payload: payload.toString('base64') },
    streamSid: STREAM,
  })
}

const connected = JSON.stringify({ event: 'connected', protocol: 'Call', version: '1.0.0' })
const start = JSON.stringify({
  event: 'start',
  sequenceNumber: '1',
  start: {
    accountSid: ACCOUNT,
    streamSid: STREAM,
    callSid: CALL,
    tracks: ['inbound', 'outbound'],
    mediaFormat: { encoding: 'audio/x-mulaw', sampleRate: 8000, channels: 1 },
    customParameters: { streamToken: 'tok_abc' },
  },
  streamSid: STREAM,
})
const stop = (seq: number): string =>
  JSON.stringify({ event: 'stop', sequenceNumber: String(seq), stop: { accountSid: ACCOUNT, callSid: CALL }, streamSid: STREAM })
const mark = JSON.stringify({ event: 'mark', sequenceNumber: '4', streamSid: STREAM, mark: { name: 'greeting' } })

/** Interleaves two equal-length channels L,R,L,R: the reference the assembler must match. */
function interleave (left: Buffer, right: Buffer): Buffer {
  const out = Buffer.alloc(left.length * 2)
  for (let i = 0; i < left.length; i++) {
    out[2 * i] = left[i] as number
    out[2 * i + 1] = right[i] as number
  }
  return out
}

function collect (options: Omit<AssemblerOptions, 'onChunk'> = {}): { asm: Assembler; chunks: Buffer[] } {
  const chunks: Buffer[] = []
  return { asm: new Assembler({ ...options, onChunk: (c) => chunks.push(Buffer.from(c)) }), chunks }
}

t.test('a scripted three-minute call through parseFrame and the assembler', async (t) => {
  const JITTER_MS = 300
  const CHUNK = 16_000
  const IN_FRAMES = 9000 // 180 s of caller audio
  const OUT_FRAMES = 8500 // the other party falls silent for the last 10 s
  const OUT_GAP = { from: 3000, to: 3100 } // 60 s to 62 s: two seconds lost on the outbound track
  const REVERSED = { from: 1500, to: 1510 } // 180 ms of inbound frames arrive backwards
  const LATE = 4500 // inbound frame at 90 s arrives a second late
  const DUPLICATE = 6000 // outbound frame at 120 s arrives twice

  // Delivery order: both tracks in step, then the scripted disorder.
  const order: { track: Track; k: number }[] = []
  for (let k = 0; k < IN_FRAMES; k++) {
    order.push({ track: 'inbound', k })
    const lost = k >= OUT_GAP.from && k < OUT_GAP.to
    if (k < OUT_FRAMES && !lost) order.push({ track: 'outbound', k })
    if (k === DUPLICATE) order.push({ track: 'outbound', k })
  }
  const reversedAt = order.flatMap((f, i) => (f.track === 'inbound' && f.k >= REVERSED.from && f.k < REVERSED.to ? [i] : []))
  reversedAt.forEach((i, j) => (order[i] = { track: 'inbound', k: REVERSED.to - 1 - j }))
  const lateAt = order.findIndex((f) => f.track === 'inbound' && f.k === LATE)
  order.splice(lateAt, 1)
  order.splice(order.findIndex((f) => f.track === 'inbound' && f.k === LATE + 50) + 1, 0, { track: 'inbound', k: LATE })

  const junk = [
    'not json',
    '{"event":"media"',
    'null',
    '[1,2]',
    '{"event":"dtmf","streamSid":"MZ1","dtmf":{"track":"inbound_track","digit":"1"}}',
    JSON.stringify({ event: 'media', sequenceNumber: '9', streamSid: STREAM, media: { track: 'inbound', chunk: '1', timestamp: '0', payload: 'not*base64' } }),
    JSON.stringify({ event: 'media', sequenceNumber: '9', streamSid: STREAM, media: { track: 'both', chunk: '1', timestamp: '0', payload: 'AAAA' } }),
    JSON.stringify({ event: 'media', sequenceNumber: '9', streamSid: STREAM, media: { track: 'inbound', chunk: '1', timestamp: 0, payload: 'AAAA' } }),
  ]
  const messages = [connected, start]
  let seq = 2
  order.forEach((f, i) => {
    messages.push(mediaMessage(f.track, f.k, seq++))
    if (i % 2000 === 1000) messages.push(junk[(i / 2000) % junk.length | 0] as string)
    if (i === 50) messages.push(mark)
  })
  const junkSent = messages.length - order.length - 3
  messages.push(stop(seq))

  const { asm, chunks } = collect({ jitterMs: JITTER_MS, chunkBytes: CHUNK })
  const bound = 2 * (JITTER_MS * 8 + FRAME_BYTES) + CHUNK
  const allocated = asm.allocatedBytes()
  let malformed = 0
  let maxBuffered = 0
  let stopped = false
  const results: string[] = []
  for (const text of messages) {
    const parsed = parseFrame(text)
    if (!parsed.ok) {
      malformed++
      continue
    }
    if (parsed.frame.event === 'media') {
      const audio = mediaAudio(parsed.frame)
      results.push(asm.push(audio.track, audio.timestampMs, audio.payload))
      maxBuffered = Math.max(maxBuffered, asm.bufferedBytes())
    } else if (parsed.frame.event === 'stop') {
      asm.flush()
      stopped = true
    }
  }
  t.ok(stopped)
  t.equal(malformed, junkSent, 'every junk message is refused, nothing else is')
  t.ok(junkSent >= junk.length)

  // Reference: each channel written naively at timestamp × 8, silence elsewhere; the late
  // frame is missing because its stretch had already gone out when it arrived.
  const samples = IN_FRAMES * FRAME_MS * 8
  const left = Buffer.alloc(samples, 0xff)
  const right = Buffer.alloc(samples, 0xff)
  for (let k = 0; k < IN_FRAMES; k++) if (k !== LATE) payloadOf('inbound', k).copy(left, k * FRAME_BYTES)
  for (let k = 0; k < OUT_FRAMES; k++) {
    if (k < OUT_GAP.from || k >= OUT_GAP.to) payloadOf('outbound', k).copy(right, k * FRAME_BYTES)
  }
  const expected = interleave(left, right)
  const actual = Buffer.concat(chunks)
  t.equal(actual.length, expected.length)
  t.ok(actual.equals(expected), 'interleaved output matches the reference byte for byte')
  t.ok(chunks.slice(0, -1).every((c) => c.length === CHUNK), 'every chunk but the last is full size')

  t.same(asm.stats(), {
    frames: order.length,
    late: 1,
    duplicates: 1,
    rejected: 0,
    gapsFilledMs: 2000 + FRAME_MS + (IN_FRAMES - OUT_FRAMES) * FRAME_MS,
    emittedBytes: expected.length,
    durationMs: 180_000,
  })
  t.equal(results.filter((r) => r === 'late').length, 1)
  t.equal(results.filter((r) => r === 'duplicate').length, 1)
  t.ok(maxBuffered > 0 && maxBuffered <= bound, `buffered ${maxBuffered} ≤ ${bound}`)
  t.equal(asm.allocatedBytes(), allocated, 'no buffer grew during the call')
})

t.test('memory stays bounded over a one-hour call, and one track alone drives the timeline', async (t) => {
  const JITTER_MS = 200
  const CHUNK = 8000
  let emitted = 0
  let chunks = 0
  const asm = new Assembler({ jitterMs: JITTER_MS, chunkBytes: CHUNK, onChunk: (c) => { emitted += c.length; chunks++ } })
  const bound = 2 * (JITTER_MS * 8 + FRAME_BYTES) + CHUNK
  let maxBuffered = 0
  const frame = payloadOf('inbound', 1)
  const frames = (3600 * 1000) / FRAME_MS
  for (let k = 0; k < frames; k++) {
    asm.push('inbound', k * FRAME_MS, frame)
    // The other party speaks only in the first minute.
    if (k < 3000) asm.push('outbound', k * FRAME_MS, frame)
    maxBuffered = Math.max(maxBuffered, asm.bufferedBytes())
  }
  t.ok(maxBuffered <= bound, `buffered ${maxBuffered} ≤ ${bound}`)
  t.ok(emitted >= (frames * FRAME_BYTES - FRAME_BYTES - JITTER_MS * 8 - CHUNK / 2) * 2, 'the timeline kept up with the newest frame')
  asm.flush()
  t.equal(emitted, frames * FRAME_BYTES * 2)
  t.equal(asm.stats().gapsFilledMs, 3600_000 - 60_000)
  t.equal(asm.stats().durationMs, 3600_000)
  t.ok(chunks > 1)
})

t.test('small timeline worked by hand', async (t) => {
  // jitter 1 ms = 8 samples; 4-byte chunks = 2 sample pairs.
  const { asm, chunks } = collect({ jitterMs: 1, chunkBytes: 4 })
  const a = Buffer.from([1, 2, 3, 4, 5, 6, 7, 8])
  const b = Buffer.from([11, 12, 13, 14, 15, 16, 17, 18])
  t.equal(asm.push('outbound', 1, b), 'accepted') // samples 8..15 on the right; horizon 0
  t.equal(asm.push('inbound', 0, a), 'accepted') // samples 0..7 on the left, inside the window
  t.equal(asm.push('inbound', 3, Buffer.from([21, 22])), 'accepted') // horizon 16
  t.equal(Buffer.concat(chunks).length, 32)
  asm.flush()
  const left = [1, 2, 3, 4, 5, 6, 7, 8, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 21, 22]
  const right = [255, 255, 255, 255, 255, 255, 255, 255, 11, 12, 13, 14, 15, 16, 17, 18, ...Array(10).fill(255)]
  t.same([...Buffer.concat(chunks)], left.flatMap((l, i) => [l, right[i]]))
  t.equal(chunks.at(-1)?.length, 4)
  t.same(asm.stats(), { frames: 3, late: 0, duplicates: 0, rejected: 0, gapsFilledMs: 34 / 8, emittedBytes: 52, durationMs: 3.25 })
})

t.test('a late frame that reaches past the written stretch keeps its tail', async (t) => {
  const { asm, chunks } = collect({ jitterMs: 0, chunkBytes: 2 })
  asm.push('inbound', 0, Buffer.from([1, 1, 1, 1, 1, 1, 1, 1]))
  asm.push('inbound', 2, Buffer.from([2, 2, 2, 2, 2, 2, 2, 2])) // written up to sample 16
  t.equal(asm.push('outbound', 1, Buffer.alloc(16, 3)), 'late') // samples 8..23: 16..23 survive
  t.equal(asm.push('outbound', 0, Buffer.alloc(8, 4)), 'late') // wholly in the past
  t.equal(asm.push('inbound', 2, Buffer.alloc(8, 9)), 'duplicate') // still held: its stretch is ahead
  t.equal(asm.push('inbound', 0, Buffer.alloc(8, 9)), 'late') // a duplicate after its stretch went out
  asm.flush()
  const out = Buffer.concat(chunks)
  t.same([...out.subarray(0, 48)].filter((_, i) => i % 2 === 1), [...Array(16).fill(255), ...Array(8).fill(3)])
  t.same(asm.stats().late, 3)
})

t.test('duplicates within the window are ignored, first copy wins', async (t) => {
  const { asm, chunks } = collect({ jitterMs: 100 })
  t.equal(asm.push('inbound', 0, Buffer.alloc(8, 1)), 'accepted')
  t.equal(asm.push('inbound', 0, Buffer.alloc(8, 2)), 'duplicate')
  t.equal(asm.push('outbound', 0, Buffer.alloc(8, 5)), 'accepted', 'same timestamp, other track')
  asm.flush()
  t.same([...Buffer.concat(chunks)], [1, 5, 1, 5, 1, 5, 1, 5, 1, 5, 1, 5, 1, 5, 1, 5])
  t.equal(asm.stats().duplicates, 1)
})

t.test('unusable timestamps are rejected', async (t) => {
  const { asm, chunks } = collect({ maxJumpMs: 1000 })
  t.equal(asm.push('inbound', -20, Buffer.alloc(8)), 'rejected')
  t.equal(asm.push('inbound', 0.01, Buffer.alloc(8)), 'rejected')
  t.equal(asm.push('inbound', Number.NaN, Buffer.alloc(8)), 'rejected')
  t.equal(asm.push('inbound', 1001, Buffer.alloc(8)), 'rejected')
  t.equal(asm.push('inbound', 1000, Buffer.alloc(8, 7)), 'accepted')
  t.equal(asm.push('inbound', 2000, Buffer.alloc(8, 7)), 'accepted', 'measured from the newest frame')
  asm.flush()
  t.equal(Buffer.concat(chunks).length, (2000 * 8 + 8) * 2)
  t.equal(asm.stats().rejected, 4)
})

t.test('frames longer than the window grow the buffer instead of being cut', async (t) => {
  const { asm, chunks } = collect({ jitterMs: 0, chunkBytes: 1000 })
  const long = payloadOf('inbound', 3, 8000) // one second in one frame
  asm.push('inbound', 0, long)
  asm.push('outbound', 500, payloadOf('outbound', 4, 80))
  asm.flush()
  const right = Buffer.alloc(8000, 0xff)
  payloadOf('outbound', 4, 80).copy(right, 4000)
  t.ok(Buffer.concat(chunks).equals(interleave(long, right)))
})

t.test('flush', async (t) => {
  const { asm, chunks } = collect()
  asm.flush()
  asm.flush()
  t.same(chunks, [], 'an empty stream writes nothing')
  t.same(asm.stats(), { frames: 0, late: 0, duplicates: 0, rejected: 0, gapsFilledMs: 0, emittedBytes: 0, durationMs: 0 })
  t.throws(() => asm.push('inbound', 0, Buffer.alloc(1)), /push after flush/)
})

t.test('options are checked', async (t) => {
  const onChunk = (): void => {}
  t.throws(() => new Assembler({ onChunk, jitterMs: -1 }), RangeError)
  t.throws(() => new Assembler({ onChunk, jitterMs: 1.5 }), RangeError)
  t.throws(() => new Assembler({ onChunk, chunkBytes: 3 }), RangeError)
  t.throws(() => new Assembler({ onChunk, chunkBytes: 0 }), RangeError)
  t.throws(() => new Assembler({ onChunk, maxJumpMs: -5 }), RangeError)
  t.doesNotThrow(() => new Assembler({ onChunk, jitterMs: 0, chunkBytes: 2, maxJumpMs: 0 }))
})

t.test('parseFrame reads every Twilio message type', async (t) => {
  const c = parseFrame(connected)
  t.same(c, { ok: true, frame: { event: 'connected', protocol: 'Call', version: '1.0.0' } })
  const s = parseFrame(start)
  t.ok(s.ok && s.frame.event === 'start' && s.frame.start.customParameters['streamToken'] === 'tok_abc')
  t.ok(s.ok && s.frame.event === 'start' && isSupportedFormat(s.frame.start.mediaFormat))
  const m = parseFrame(mediaMessage('outbound', 2, 5, Buffer.from([0x7f, 0x00, 0xff])))
  t.ok(m.ok && m.frame.event === 'media')
  if (m.ok && m.frame.event === 'media') {
    t.same(mediaAudio(m.frame), { track: 'outbound', timestampMs: 40, payload: Buffer.from([0x7f, 0x00, 0xff]) })
  }
  t.match(parseFrame(stop(7)), { ok: true, frame: { event: 'stop', stop: { callSid: CALL } } })
  t.match(parseFrame(mark), { ok: true, frame: { event: 'mark', mark: { name: 'greeting' } } })
  t.match(parseFrame('{"event":"mark","streamSid":"MZ1","mark":{"name":"x"}}'), { ok: true })
  t.match(parseFrame(JSON.stringify({ ...JSON.parse(connected), added: 'later' })), { ok: true }, 'new fields are tolerated')
})

t.test('parseFrame refuses junk without throwing', async (t) => {
  const refused = (text: string, reason: RegExp): void => {
    const result = parseFrame(text)
    t.equal(result.ok, false, text)
    if (!result.ok) t.match(result.reason, reason)
  }
  refused('', /not JSON/)
  refused('{"event":', /not JSON/)
  refused('null', /not a JSON object/)
  refused('"media"', /not a JSON object/)
  refused('[{"event":"media"}]', /not a JSON object/)
  refused('{}', /unknown event undefined/)
  refused('{"event":"dtmf"}', /unknown event "dtmf"/)
  refused('{"event":"toString"}', /unknown event "toString"/)
  refused('{"event":"connected","protocol":"Call"}', /^connected: \/ /)
  refused(mediaMessage('inbound', 0, 2).replace(/"payload":"[^"]*"/, '"payload":"abc"'), /^media: \/media\/payload /)
  refused(mediaMessage('inbound', 0, 2).replace('"timestamp":"0"', '"timestamp":"-1"'), /\/media\/timestamp/)
  refused(start.replace('"tok_abc"', '42'), /customParameters/)
  refused(stop(3).replace(CALL, ''), /\/stop\/callSid/)
  t.notOk(isSupportedFormat({ encoding: 'audio/x-mulaw', sampleRate: 16000, channels: 1 }))
  t.notOk(isSupportedFormat({ encoding: 'audio/x-l16', sampleRate: 8000, channels: 1 }))
  t.notOk(isSupportedFormat({ encoding: 'audio/x-mulaw', sampleRate: 8000, channels: 2 }))
})

t.test('Channel ring buffer matches a plain array model under random writes and drains', async (t) => {
  // The model: a growing array of samples (-1 = never written) from sample 0 of the channel.
  const { Channel, MULAW_SILENCE } = await import('../../src/recording/channel.js')
  let seed = 12345
  const random = (n: number) => { seed = (seed * 1103515245 + 12345) >>> 0; return seed % n }
  for (let round = 0; round < 20; round++) {
    const channel = new Channel(1 + random(64))
    let model: number[] = []
    let problem = ''
    for (let step = 0; step < 400 && problem === ''; step++) {
      if (random(3) > 0) {
        const offset = random(80)
        const payload = Buffer.from(Array.from({ length: 1 + random(40) }, () => random(255)))
        channel.write(offset, payload)
        while (model.length < offset + payload.length) model.push(-1)
        payload.forEach((b, i) => { model[offset + i] = b })
      } else {
        const count = random(70)
        const out = Buffer.alloc(count * 2 + 1, 0xaa)
        const filled = channel.drain(count, out, 1, 2)
        const expected = Array.from({ length: count }, (_, i) => model[i] ?? -1)
        const got = Array.from({ length: count }, (_, i) => out[1 + i * 2])
        if (JSON.stringify(got) !== JSON.stringify(expected.map((s) => (s === -1 ? MULAW_SILENCE : s)))) problem = `step ${step}: drained ${got}, expected ${expected}`
        else if (filled !== expected.filter((s) => s === -1).length) problem = `step ${step}: ${filled} filled, expected ${expected.filter((s) => s === -1).length}`
        else if (!out.every((b, i) => i % 2 === 1 || b === 0xaa)) problem = `step ${step}: wrote outside its stride`
        model = model.slice(count)
      }
      if (problem === '' && channel.pending !== model.length) problem = `step ${step}: ${channel.pending} pending, expected ${model.length}`
    }
    t.equal(problem, '', `round ${round}`)
  }
})
