import { createHash, randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable, Writable, type Duplex } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { AlgorithmSuiteIdentifier, buildClient, CommitmentPolicy } from '@aws-crypto/client-node'
import t from 'tap'
import { decryptStream, encryptionContextOf, encryptStream, EnvelopeContextError, FINAL_FRAME_MARK, FRAME_BYTES, FRAME_LENGTH, headerLength, openSealer, type RecordingContext } from '../../src/crypto/envelope.js'
import { createKeyring, type KeyringOptions } from '../../src/crypto/keyring.js'
import { fakeKms } from '../fake-kms.js'

// The SDK nags about Node 22 on its first client; irrelevant to what is tested here.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true'

const CONTEXT: RecordingContext = { tenantId: 'tenant-7', callSid: 'CA0123456789abcdef0123456789abcdef', recordingId: 'rec-42' }
const NO_KMS: KeyringOptions['kms'] = { keyId: null, endpoint: null, region: 'eu-west-1' }

interface Teardown { teardown (fn: () => unknown): void }

function tempDir (t: Teardown): string {
  const dir = mkdtempSync(join(tmpdir(), 'callgate-crypto-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/**
 * Deterministic µ-law-like audio: a slow random walk (speech-ish envelope) plus noise, encoded
 * with the G.711 µ-law curve, with stretches of silence (0xFF), as the assembler produces.
 */
function muLawLike (bytes: number, seed = 0x9e3779b9): Buffer {
  let s = seed >>> 0
  const rand = (): number => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return s / 0x100000000 }
  const out = Buffer.alloc(bytes)
  let level = 0
  for (let i = 0; i < bytes; i++) {
    if (i % 16000 < 2000) { out[i] = 0xff; continue }
    level = Math.max(-1, Math.min(1, level * 0.98 + (rand() - 0.5) * 0.2))
    const sample = Math.round((level * 0.7 + (rand() - 0.5) * 0.3) * 8000)
    out[i] = linearToMuLaw(sample)
  }
  return out
}

function linearToMuLaw (sample: number): number {
  const sign = sample < 0 ? 0x80 : 0
  const magnitude = Math.min(Math.abs(sample), 32635) + 0x84
  let exponent = 7
  for (let mask = 0x4000; (magnitude & mask) === 0 && exponent > 0; mask >>= 1) exponent--
  const mantissa = (magnitude >> (exponent + 3)) & 0x0f
  return ~(sign | (exponent << 4) | mantissa) & 0xff
}

/** Feeds `data` in 100 ms two-channel chunks, like the assembler would. */
function source (data: Buffer, chunk = 1600): Readable {
  return Readable.from((function * () {
    for (let i = 0; i < data.length; i += chunk) yield data.subarray(i, i + chunk)
  })())
}

/** A deliberately slow sink with a tiny buffer, so back-pressure is exercised. */
function sink (): { stream: Writable, bytes: () => Buffer } {
  const chunks: Buffer[] = []
  const stream = new Writable({
    highWaterMark: 1,
    write (chunk: Buffer, _enc, cb) { chunks.push(chunk); setImmediate(cb) }
  })
  return { stream, bytes: () => Buffer.concat(chunks) }
}

async function run (data: Buffer, transform: Duplex): Promise<Buffer> {
  const out = sink()
  await pipeline(source(data), transform, out.stream)
  return out.bytes()
}

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex')

/** True when some 16-byte-aligned block of plaintext occurs anywhere in the ciphertext; any
 *  32-byte plaintext run necessarily contains such a block, so false rules such runs out. */
function sharesPlaintextBlock (plaintext: Buffer, ciphertext: Buffer): boolean {
  const blocks = new Set<string>()
  for (let i = 0; i + 16 <= plaintext.length; i += 16) blocks.add(plaintext.toString('latin1', i, i + 16))
  for (let i = 0; i + 16 <= ciphertext.length; i++) {
    if (blocks.has(ciphertext.toString('latin1', i, i + 16))) return true
  }
  return false
}

t.test('local keyring: a 1 MB recording round-trips through the streams', async (t) => {
  const { keyring, keyId } = await createKeyring({ kms: NO_KMS, dataDir: tempDir(t) })
  t.equal(keyId, 'local:local-1')
  const plaintext = muLawLike(1 << 20)
  const ciphertext = await run(plaintext, encryptStream(keyring, CONTEXT))
  t.ok(ciphertext.length > plaintext.length, `ciphertext ${ciphertext.length} B for ${plaintext.length} B`)
  t.notOk(sharesPlaintextBlock(plaintext, ciphertext), 'no plaintext run survives in the ciphertext')
  const decrypted = await run(ciphertext, decryptStream(keyring, CONTEXT))
  t.equal(decrypted.length, plaintext.length)
  t.equal(sha256(decrypted), sha256(plaintext))
})

t.test('a tampered or truncated ciphertext is refused', async (t) => {
  const { keyring } = await createKeyring({ kms: NO_KMS, dataDir: tempDir(t) })
  const plaintext = muLawLike(64 * 1024, 7)
  const ciphertext = await run(plaintext, encryptStream(keyring, CONTEXT))
  for (const at of [20, ciphertext.length >> 1, ciphertext.length - 1]) {
    const tampered = Buffer.from(ciphertext)
    tampered[at]! ^= 0x01
    await t.rejects(run(tampered, decryptStream(keyring, CONTEXT)), `flipping byte ${at} is detected`)
  }
  await t.rejects(run(ciphertext.subarray(0, ciphertext.length - 100), decryptStream(keyring, CONTEXT)), 'truncation is detected')
})

t.test("a recording does not decrypt as another call's", async (t) => {
  const { keyring } = await createKeyring({ kms: NO_KMS, dataDir: tempDir(t) })
  const ciphertext = await run(muLawLike(32 * 1024, 3), encryptStream(keyring, CONTEXT))
  for (const other of [
    { ...CONTEXT, recordingId: 'rec-43' },
    { ...CONTEXT, callSid: 'CAffffffffffffffffffffffffffffffff' },
    { ...CONTEXT, tenantId: 'tenant-8' }
  ]) {
    const out = sink()
    await t.rejects(pipeline(source(ciphertext), decryptStream(keyring, other), out.stream), EnvelopeContextError)
    t.equal(out.bytes().length, 0, 'not a byte of plaintext is released')
  }
})

t.test('a context with an extra or a missing entry is refused too', async (t) => {
  const { keyring } = await createKeyring({ kms: NO_KMS, dataDir: tempDir(t) })
  const sdk = buildClient(CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT)
  const suiteId = AlgorithmSuiteIdentifier.ALG_AES256_GCM_IV12_TAG16_HKDF_SHA512_COMMIT_KEY
  const full = encryptionContextOf(CONTEXT)
  const { call: _call, ...partial } = full
  for (const [encryptionContext, why] of [[{ ...full, extra: 'x' }, /'extra' is "x", expected null/], [partial, /'call' is null/]] as const) {
    const message = await run(Buffer.from('hello'), sdk.encryptStream(keyring, { suiteId, encryptionContext }))
    await t.rejects(run(message, decryptStream(keyring, CONTEXT)), why)
  }
})

t.test('the encryption context must name the recording', async (t) => {
  t.same(encryptionContextOf(CONTEXT), { tenant: 'tenant-7', call: CONTEXT.callSid, recording: 'rec-42' })
  t.throws(() => encryptionContextOf({ ...CONTEXT, callSid: '' }), TypeError)
})

t.test('the local key is created private and reused', async (t) => {
  const dataDir = tempDir(t)
  const first = await createKeyring({ kms: NO_KMS, dataDir })
  const file = join(dataDir, 'keyring', 'local-1.key')
  t.equal(statSync(file).mode & 0o777, 0o600, 'key readable by the owner only')
  t.equal(statSync(join(dataDir, 'keyring')).mode & 0o777, 0o700)
  t.equal(statSync(file).size, 32)
  const keyBytes = readFileSync(file)

  const plaintext = muLawLike(100 * 1024, 11)
  const ciphertext = await run(plaintext, encryptStream(first.keyring, CONTEXT))

  const again = await createKeyring({ kms: NO_KMS, dataDir })
  t.same(readFileSync(file), keyBytes, 'the key file is not rewritten')
  t.equal(sha256(await run(ciphertext, decryptStream(again.keyring, CONTEXT))), sha256(plaintext), 'same dataDir decrypts')

  const stranger = await createKeyring({ kms: NO_KMS, dataDir: tempDir(t) })
  await t.rejects(run(ciphertext, decryptStream(stranger.keyring, CONTEXT)), 'another dataDir cannot decrypt')
})

t.test('concurrent first starts agree on one key', async (t) => {
  const dataDir = tempDir(t)
  const [first, ...others] = await Promise.all([1, 2, 3, 4].map(() => createKeyring({ kms: NO_KMS, dataDir })))
  const plaintext = muLawLike(8 * 1024, 5)
  const ciphertext = await run(plaintext, encryptStream(first!.keyring, CONTEXT))
  for (const other of others) {
    t.equal(sha256(await run(ciphertext, decryptStream(other.keyring, CONTEXT))), sha256(plaintext))
  }
  t.same(readdirSync(join(dataDir, 'keyring')), ['local-1.key'], 'no temporary files are left behind')
})

t.test('a damaged local key is an error, never silently replaced', async (t) => {
  const dataDir = tempDir(t)
  mkdirSync(join(dataDir, 'keyring'), { recursive: true })
  writeFileSync(join(dataDir, 'keyring', 'local-1.key'), randomBytes(16))
  await t.rejects(createKeyring({ kms: NO_KMS, dataDir }), /16 bytes, expected 32/)
  t.equal(statSync(join(dataDir, 'keyring', 'local-1.key')).size, 16)
})

t.test('an unreadable key file is reported, not replaced', async (t) => {
  const dataDir = tempDir(t)
  mkdirSync(join(dataDir, 'keyring', 'local-1.key'), { recursive: true })
  await t.rejects(createKeyring({ kms: NO_KMS, dataDir }), { code: 'EISDIR' })
})

t.test('a KMS keyring without endpoint or credentials uses the SDK defaults, lazily', async (t) => {
  // Nothing is contacted until a data key is needed, so building one needs no network.
  const made = await createKeyring({ kms: { keyId: 'alias/callgate', endpoint: null, region: 'eu-west-1' }, dataDir: tempDir(t) })
  t.equal(made.keyId, 'alias/callgate')
  // Its generator is the configured key: data keys will be asked of that key, and of no other.
  t.match(made.keyring, { generatorKeyId: 'alias/callgate', keyIds: [] })
})

t.test('KMS keyring: data keys come from the configured endpoint, bound to the recording', async (t) => {
  const { endpoint, calls } = await fakeKms(t)
  // A key ARN in another region than the default: the endpoint must still be ours.
  const keyId = 'arn:aws:kms:us-east-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab'
  const kms = { keyId, endpoint, region: 'eu-west-1', credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'test-secret' } }
  const made = await createKeyring({ kms, dataDir: tempDir(t) })
  t.equal(made.keyId, keyId)

  const plaintext = muLawLike(256 * 1024, 13)
  const ciphertext = await run(plaintext, encryptStream(made.keyring, CONTEXT))
  const expectedContext = { tenant: 'tenant-7', call: CONTEXT.callSid, recording: 'rec-42' }
  t.match(calls, [{ target: 'TrentService.GenerateDataKey', body: { KeyId: keyId, EncryptionContext: expectedContext } }])
  t.same(calls[0]?.body.EncryptionContext, expectedContext, 'exactly the three ids, nothing else')
  t.notOk(sharesPlaintextBlock(plaintext, ciphertext))

  // A fresh keyring, as a later process would build it.
  const later = await createKeyring({ kms, dataDir: tempDir(t) })
  t.equal(sha256(await run(ciphertext, decryptStream(later.keyring, CONTEXT))), sha256(plaintext))
  t.match(calls[1], { target: 'TrentService.Decrypt', body: { KeyId: keyId, EncryptionContext: expectedContext } })
  t.equal(calls.length, 2, 'one KMS call per message each way')

  await t.rejects(run(ciphertext, decryptStream(later.keyring, { ...CONTEXT, recordingId: 'rec-43' })), EnvelopeContextError)

  // A KMS that cannot unwrap the data key (another account's master key) stops decryption.
  const stranger = await fakeKms(t)
  const elsewhere = await createKeyring({ kms: { ...kms, endpoint: stranger.endpoint }, dataDir: tempDir(t) })
  await t.rejects(run(ciphertext, decryptStream(elsewhere.keyring, CONTEXT)))
  t.match(stranger.calls, [{ target: 'TrentService.Decrypt' }], 'the refusal came from that KMS')

  const local = await createKeyring({ kms: NO_KMS, dataDir: tempDir(t) })
  await t.rejects(run(ciphertext, decryptStream(local.keyring, CONTEXT)), 'the local keyring cannot unwrap a KMS data key')
})

t.test('the frame sealer writes the message encryptStream writes, frame by frame', async (t) => {
  const { keyring } = await createKeyring({ kms: NO_KMS, dataDir: tempDir(t) })
  // Whole frames, an empty final frame, and a partial one.
  for (const bytes of [0, FRAME_LENGTH * 3, FRAME_LENGTH * 5 + 1234]) {
    const plaintext = muLawLike(bytes, bytes + 1)
    const sealer = await openSealer(keyring, CONTEXT)
    const parts: Buffer[] = [...sealer.header]
    const frame = Buffer.alloc(FRAME_LENGTH)
    let at = 0
    for (; at + FRAME_LENGTH <= plaintext.length; at += FRAME_LENGTH) {
      // The same buffer each time, as the live recording reuses it: sealing must copy.
      plaintext.copy(frame, 0, at, at + FRAME_LENGTH)
      parts.push(...sealer.seal(frame, false))
      frame.fill(0)
    }
    parts.push(...sealer.seal(plaintext.subarray(at), true))
    t.throws(() => sealer.seal(Buffer.alloc(0), true), 'nothing is sealed after the final frame')
    sealer.dispose()
    const message = Buffer.concat(parts)
    const reference = await run(plaintext, encryptStream(keyring, CONTEXT))
    t.equal(message.length, reference.length, `${bytes} B: the same length as the SDK stream's message`)
    const head = headerLength(message)
    t.equal(head, headerLength(reference), 'the same header layout')
    const whole = Math.floor(bytes / FRAME_LENGTH)
    t.equal(message.readUInt32BE(head! + whole * FRAME_BYTES), FINAL_FRAME_MARK, 'the final frame follows the whole ones')
    t.notOk(bytes > 0 && sharesPlaintextBlock(plaintext, message), 'no plaintext run survives in the ciphertext')
    const decrypted = await run(message, decryptStream(keyring, CONTEXT))
    t.equal(sha256(decrypted), sha256(plaintext), `${bytes} B decrypt with the SDK to the plaintext`)
    await t.rejects(run(message, decryptStream(keyring, { ...CONTEXT, recordingId: 'rec-43' })), EnvelopeContextError, 'bound to its recording')
  }
})
