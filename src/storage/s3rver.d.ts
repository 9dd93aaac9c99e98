// Types for the parts of @20minutes/s3rver (a Koa application; no types of its own) callgate uses.
declare module '@20minutes/s3rver' {
  import type { IncomingMessage, ServerResponse } from 'node:http'
  interface S3rverOptions {
    address?: string
    port?: number
    silent?: boolean
    directory: string
    resetOnClose?: boolean
    vhostBuckets?: boolean
    allowMismatchedSignatures?: boolean
    configureBuckets?: Array<{ name: string, configs?: Array<string | Buffer> }>
  }
  export default class S3rver {
    constructor (options: S3rverOptions)
    logger: { close (): void }
    configureBuckets (): Promise<void>
    /** The Koa request handler. */
    callback (): (req: IncomingMessage, res: ServerResponse) => Promise<void>
    on (event: 'error', listener: (err: unknown) => void): this
    run (): Promise<{ address: string, port: number }>
    close (): Promise<void>
  }
}

declare module '@20minutes/s3rver/lib/models/account.js' {
  interface AWSAccountInstance {
    createKeyPair (accessKeyId: string, secretAccessKey: string): void
    revokeAccessKey (accessKeyId: string): void
  }
  const AWSAccount: { DUMMY_ACCOUNT: AWSAccountInstance }
  export default AWSAccount
}
