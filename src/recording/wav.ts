/**
 * A WAV header for G.711 µ-law (WAVE_FORMAT_MULAW = 7), 8 kHz, 2 channels: RIFF, an 18-byte fmt
 * chunk (cbSize 0), the fact chunk non-PCM formats carry, and the data chunk header.
 * http://www-mmsp.ece.mcgill.ca/Documents/AudioFormats/WAVE/WAVE.html
 */
export const WAV_HEADER_BYTES = 58

export function mulawWavHeader (dataBytes: number, channels = 2, sampleRate = 8000): Buffer {
  const h = Buffer.alloc(WAV_HEADER_BYTES)
  h.write('RIFF', 0, 'ascii')
  h.writeUInt32LE(WAV_HEADER_BYTES - 8 + dataBytes, 4)
  h.write('WAVE', 8, 'ascii')
  h.write('fmt ', 12, 'ascii')
  h.writeUInt32LE(18, 16)
  h.writeUInt16LE(7, 20) // WAVE_FORMAT_MULAW
  h.writeUInt16LE(channels, 22)
  h.writeUInt32LE(sampleRate, 24)
  h.writeUInt32LE(sampleRate * channels, 28) // bytes per second: one byte per sample
  h.writeUInt16LE(channels, 32) // block align
  h.writeUInt16LE(8, 34) // bits per sample
  h.writeUInt16LE(0, 36) // cbSize
  h.write('fact', 38, 'ascii')
  h.writeUInt32LE(4, 42)
  h.writeUInt32LE(Math.floor(dataBytes / channels), 46) // samples per channel
  h.write('data', 50, 'ascii')
  h.writeUInt32LE(dataBytes, 54)
  return h
}

export type ByteRange = { start: number, end: number }

/**
 * One range of a `Range: bytes=…` header against a resource of `size` bytes (RFC 9110 §14.1.2).
 * null: no usable single range (serve the whole body); 'unsatisfiable': answer 416.
 */
export function parseRange (header: string | undefined, size: number): ByteRange | null | 'unsatisfiable' {
  if (header === undefined) return null
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim())
  if (match === null) return null
  const [, first, last] = match
  if (first === '' && last === '') return null
  if (first === '') {
    const suffix = Number(last)
    if (suffix === 0) return 'unsatisfiable'
    return { start: Math.max(0, size - suffix), end: size - 1 }
  }
  const start = Number(first)
  if (start >= size) return 'unsatisfiable'
  const end = last === '' ? size - 1 : Math.min(Number(last), size - 1)
  if (end < start) return null
  return { start, end }
}
