import type { Readable } from 'node:stream'
import { Readable as ReadableStream } from 'node:stream'
import type { KeyringNode } from '@aws-crypto/client-node'
import { decryptStream } from '../crypto/envelope.js'
import type { ObjectStore } from '../storage/object-store.js'
import { mulawWavHeader, type ByteRange } from './wav.js'

export interface PlayableRecording {
  id: string
  tenantId: string
  callSid: string
  bucket: string
  key: string
  plainBytes: number
  channels: number
}

/**
 * The recording as WAV bytes [range.start, range.end]: S3 → decrypt → header + audio, streamed.
 * The envelope format cannot be entered mid-way, so a range decrypts from the start and skips;
 * it stops reading S3 once the range is served. Plaintext only ever exists in memory, a chunk
 * at a time.
 */
export async function playback (store: Pick<ObjectStore, 'get'>, keyring: KeyringNode, rec: PlayableRecording, range: ByteRange): Promise<Readable> {
  const body = await store.get(rec)
  const decrypt = decryptStream(keyring, { tenantId: rec.tenantId, callSid: rec.callSid, recordingId: rec.id })
  body.on('error', (err) => decrypt.destroy(err))
  body.pipe(decrypt)
  const header = mulawWavHeader(rec.plainBytes, rec.channels)
  const end = range.end + 1

  async function * slices () {
    let position = 0
    try {
      for (const chunk of [header]) {
        yield * cut(chunk)
      }
      for await (const chunk of decrypt) {
        yield * cut(chunk as Buffer)
        if (position >= end) return
      }
    } finally {
      body.destroy()
      decrypt.destroy()
    }

    function * cut (chunk: Buffer) {
      const from = Math.max(range.start - position, 0)
      const to = Math.min(end - position, chunk.length)
      position += chunk.length
      if (to > from) yield chunk.subarray(from, to)
    }
  }
  return ReadableStream.from(slices(), { objectMode: false })
}
