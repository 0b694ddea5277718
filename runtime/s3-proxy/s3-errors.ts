// S3-style errors: the XML body real clients parse (Code, Message), with the HTTP status they
// retry on (503 SlowDown/ServiceUnavailable) or give up on.
import {CloudtaserError, ExitCode, isCloudtaserError} from '../../lib/errors.js'

const STATUS: Record<string, number> = {
  AccessDenied: 403,
  AuthorizationHeaderMalformed: 400,
  BadDigest: 400,
  EncryptionRequired: 403,
  EntityTooSmall: 400,
  IncompleteBody: 400,
  InternalError: 500,
  InvalidAccessKeyId: 403,
  InvalidArgument: 400,
  InvalidObjectState: 403,
  InvalidPart: 400,
  InvalidRange: 416,
  InvalidRequest: 400,
  InvalidURI: 400,
  KMS_KeyMissing: 500,
  MalformedXML: 400,
  MethodNotAllowed: 405,
  NotImplemented: 501,
  RequestTimeTooSkewed: 403,
  ServiceUnavailable: 503,
  SignatureDoesNotMatch: 403,
  XAmzContentSHA256Mismatch: 400,
}

export class S3Error extends CloudtaserError {
  constructor(
    readonly s3Code: string,
    message: string,
    readonly status = STATUS[s3Code] ?? 400,
    cause?: unknown,
  ) {
    super('S3_REQUEST', message, {exitCode: status === 503 ? ExitCode.UNAVAILABLE : status >= 500 ? ExitCode.INTERNAL : ExitCode.CHECK_FAILED, cause})
  }
}

export const s3Error = (code: string, message: string, status?: number, cause?: unknown) => new S3Error(code, message, status, cause)

const xmlEscape = (s: string) => s.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`)

/** Any error as the S3 error it is for the client: OpenBao outages are retryable 503s. */
export function toS3Error(err: unknown): S3Error {
  if (err instanceof S3Error) return err
  if (isCloudtaserError(err)) {
    if (['BAO_UNREACHABLE', 'BAO_UNAVAILABLE', 'BAO_SEALED'].includes(err.code)) return s3Error('ServiceUnavailable', `the key service is unavailable: ${err.message}`, 503, err)
    if (err.code === 'S3_INTEGRITY') return s3Error('InvalidObjectState', err.message, 500, err)
    if (err.code === 'TRANSIT_KEY_MISSING') return s3Error('KMS_KeyMissing', err.message, 500, err)
    if (err.code.startsWith('BAO_')) return s3Error('AccessDenied', `the key service refused the proxy: ${err.message}`, 403, err)
    if (err.code === 'S3_BODY_LENGTH') return s3Error('IncompleteBody', err.message, 400, err)
    return s3Error('InternalError', err.message, 500, err)
  }
  return s3Error('InternalError', `internal error: ${(err as Error)?.message ?? String(err)}`, 500, err)
}

export function errorXml(e: S3Error, resource: string, requestId: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${xmlEscape(e.s3Code)}</Code><Message>${xmlEscape(e.message)}</Message><Resource>${xmlEscape(resource)}</Resource><RequestId>${requestId}</RequestId></Error>`
}
