import { Duplex } from 'node:stream'
import {
  AlgorithmSuiteIdentifier,
  buildClient,
  CommitmentPolicy,
  NodeAlgorithmSuite,
  NodeDefaultCryptographicMaterialsManager,
  type KeyringNode,
  type MessageHeader
} from '@aws-crypto/client-node'
// The two halves of the SDK's own encryptStream (client-node 5.0.2, pinned by the lockfile):
// the message header and one frame. See FrameSealer for why they are used without the stream.
import { getEncryptionInfo } from '@aws-crypto/encrypt-node/build/main/src/encrypt_stream.js'
import { getEncryptFrame } from '@aws-crypto/encrypt-node/build/main/src/framed_encrypt_stream.js'

// Key commitment on both sides: a message can only ever decrypt to one plaintext.
const client = buildClient(CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT)

/**
 * Unsigned on purpose: a signed suite cannot release any plaintext until the trailing signature
 * is checked, so decrypting a long recording would need the whole message first.
 */
export const SUITE_ID = AlgorithmSuiteIdentifier.ALG_AES256_GCM_IV12_TAG16_HKDF_SHA512_COMMIT_KEY
export const FRAME_LENGTH = 4096

// Message format version 2, as SUITE_ID writes it, and its framed body:
// https://docs.aws.amazon.com/encryption-sdk/latest/developer-guide/message-format.html
// https://docs.aws.amazon.com/encryption-sdk/latest/developer-guide/body-structure.html
const MESSAGE_ID_BYTES = 32
const SUITE_DATA_BYTES = 32 // the key commitment
const IV_BYTES = 12
const TAG_BYTES = 16
/** A regular (not final) frame: sequence number, IV, FRAME_LENGTH bytes of content, tag. */
export const FRAME_BYTES = 4 + IV_BYTES + FRAME_LENGTH + TAG_BYTES
/** The final frame starts with this sequence number end marker instead of a sequence number. */
export const FINAL_FRAME_MARK = 0xffffffff

/**
 * Length of the message header at the start of `head` (version, suite, message id, encryption
 * context, encrypted data keys, content type, frame length, suite data, header tag), or null when
 * `head` does not hold a whole header of the kind encryptStream writes.
 */
export function headerLength (head: Buffer): number | null {
  let pos = 1 + 2 + MESSAGE_ID_BYTES
  if (head.length < pos + 2 || head[0] !== 2 || head.readUInt16BE(1) !== SUITE_ID) return null
  pos += 2 + head.readUInt16BE(pos)
  if (head.length < pos + 2) return null
  const keys = head.readUInt16BE(pos)
  pos += 2
  // Each encrypted data key: provider id, provider info, encrypted key, each length-prefixed.
  for (let field = 0; field < keys * 3; field++) {
    if (head.length < pos + 2) return null
    pos += 2 + head.readUInt16BE(pos)
  }
  pos += 1
  if (head.length < pos + 4 || head.readUInt32BE(pos) !== FRAME_LENGTH) return null
  pos += 4 + SUITE_DATA_BYTES + TAG_BYTES
  return head.length >= pos ? pos : null
}

export interface RecordingContext {
  tenantId: string
  callSid: string
  recordingId: string
}

/** Raised when a message is authentic but was made for another recording. */
export class EnvelopeContextError extends Error {
  override name = 'EnvelopeContextError'
}

/** The encryption context authenticated into every message: it binds a ciphertext to its call. */
export function encryptionContextOf (context: RecordingContext): Record<string, string> {
  const ec = { tenant: String(context.tenantId), call: String(context.callSid), recording: String(context.recordingId) }
  for (const [key, value] of Object.entries(ec)) {
    // An empty id would make recordings of different calls interchangeable.
    if (value === '') throw new TypeError(`encryption context '${key}' must not be empty`)
  }
  return ec
}

/** Plaintext in, AWS Encryption SDK message out, one 4 KiB frame at a time. */
export function encryptStream (keyring: KeyringNode, context: RecordingContext): Duplex {
  return client.encryptStream(keyring, {
    suiteId: SUITE_ID,
    encryptionContext: encryptionContextOf(context),
    frameLength: FRAME_LENGTH
  })
}

/**
 * The same message encryptStream writes, made a frame at a time by the caller: the SDK's header
 * and frame functions (key derivation, commitment, IVs, AAD, serialisation all stay the SDK's),
 * without its stream stack. That stack (duplexify, two transforms, a pipeline, a setImmediate per
 * chunk) costs ~28 KiB of heap per open message and, under load, holds tens of KiB of
 * plaintext queued per stream; a live recording only ever needs one frame at a time.
 */
export interface FrameSealer {
  /** The message header and its authentication: the first bytes of the message. */
  readonly header: Buffer[]
  /**
   * The next frame: a regular one from exactly FRAME_LENGTH bytes of plaintext, or the final one
   * from at most that many (possibly none). The content is copied; the caller may reuse it.
   */
  seal (content: Buffer, final: boolean): Buffer[]
  /** Zeroes the data key; call once the message is complete or abandoned. */
  dispose (): void
}

export async function openSealer (keyring: KeyringNode, context: RecordingContext): Promise<FrameSealer> {
  const material = await new NodeDefaultCryptographicMaterialsManager(keyring).getEncryptionMaterials({
    suite: new NodeAlgorithmSuite(SUITE_ID),
    encryptionContext: encryptionContextOf(context),
    commitmentPolicy: CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT
  })
  const { getCipher, messageHeader, rawHeader, dispose } = getEncryptionInfo(material, FRAME_LENGTH)
  let sequenceNumber = 1
  let ended = false
  return {
    header: rawHeader.map((part) => Buffer.from(part.buffer, part.byteOffset, part.byteLength)),
    seal (content, final) {
      if (ended) throw new Error('FrameSealer: the final frame was already sealed')
      ended = final
      const { cipher, bodyHeader } = getEncryptFrame({ pendingFrame: { content: [content], contentLength: content.length, sequenceNumber: sequenceNumber++ }, messageHeader, getCipher, isFinalFrame: final, suite: material.suite })
      const body = cipher.update(content)
      const tail = cipher.final()
      return tail.length > 0 ? [bodyHeader, body, tail, cipher.getAuthTag()] : [bodyHeader, body, cipher.getAuthTag()]
    },
    dispose
  }
}

/**
 * Message in, plaintext out. Refuses a message whose encryption context is not exactly the
 * expected one, before any of its plaintext is released.
 *
 * Frames are authenticated one by one, so a message cut or tampered after frame N still yields
 * frames 1..N before the error: consumers must treat the output as final only once it ends.
 */
export function decryptStream (keyring: KeyringNode, expected: RecordingContext): Duplex {
  return new VerifiedDecryptStream(client.decryptUnsignedMessageStream(keyring), encryptionContextOf(expected))
}

/**
 * Wraps the SDK's decrypting stream and gates its output on the header check. The SDK emits
 * 'MessageHeader' before any body today; the gate makes "no plaintext before the context is
 * checked" something this module enforces rather than assumes of the SDK's internals.
 */
class VerifiedDecryptStream extends Duplex {
  readonly #inner: Duplex
  #verified = false

  constructor (inner: Duplex, expected: Record<string, string>) {
    super()
    this.#inner = inner
    inner.once('MessageHeader', (header: MessageHeader) => {
      const problem = contextMismatch(header.encryptionContext, expected)
      if (problem !== null) this.destroy(new EnvelopeContextError(problem))
      else this.#verified = true
    })
    inner.on('data', (chunk: Buffer) => {
      if (this.destroyed) return
      if (!this.#verified) return this.destroy(new EnvelopeContextError('plaintext arrived before the header was checked'))
      if (!this.push(chunk)) inner.pause()
    })
    inner.once('end', () => this.push(null))
    // `on`, not `once`: the SDK may report one failure twice (its pipeline, then its duplex).
    inner.on('error', (err: Error) => this.destroy(err))
  }

  override _write (chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    if (this.#inner.write(chunk)) callback()
    else this.#inner.once('drain', () => callback())
  }

  override _final (callback: (err?: Error | null) => void): void {
    this.#inner.end()
    callback()
  }

  override _read (): void {
    this.#inner.resume()
  }

  override _destroy (err: Error | null, callback: (err?: Error | null) => void): void {
    // Lets the SDK zero the data key material it holds.
    this.#inner.destroy()
    callback(err)
  }
}

function contextMismatch (actual: Readonly<Record<string, string>>, expected: Record<string, string>): string | null {
  const keys = new Set([...Object.keys(actual), ...Object.keys(expected)])
  for (const key of [...keys].sort()) {
    if (actual[key] !== expected[key]) {
      return `encryption context '${key}' is ${JSON.stringify(actual[key] ?? null)}, expected ${JSON.stringify(expected[key] ?? null)}`
    }
  }
  return null
}

/** A small secret (a key) sealed under `keyring`, bound to `context`: one SDK message. */
export async function sealBuffer (keyring: KeyringNode, plaintext: Buffer, context: Record<string, string>): Promise<Buffer> {
  const { result } = await client.encrypt(keyring, plaintext, { suiteId: SUITE_ID, encryptionContext: context })
  return result
}

/** Opens what sealBuffer made, refusing a message sealed for another context. */
export async function openBuffer (keyring: KeyringNode, message: Buffer, expected: Record<string, string>): Promise<Buffer> {
  const { plaintext, messageHeader } = await client.decrypt(keyring, message)
  const problem = contextMismatch(messageHeader.encryptionContext, expected)
  if (problem !== null) throw new EnvelopeContextError(problem)
  return plaintext
}
