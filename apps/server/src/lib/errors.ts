/**
 * Domain errors. Every failure a client can branch on has a stable `appCode` from the catalogue in
 * `@latchkey/protocol`; the transport (tRPC, REST) maps the `kind` to its own status in one place.
 */
import { APP_CODE_MESSAGES, APP_CODES, type AppCode, type AppCodeKind } from '@latchkey/protocol';

export type { AppCode } from '@latchkey/protocol';
export type AppErrorKind = AppCodeKind;
export type FieldErrors = Record<string, string[]>;

export class AppError extends Error {
  readonly appCode: AppCode;
  readonly kind: AppErrorKind;
  readonly fields: FieldErrors | undefined;
  readonly retryAfterSeconds: number | undefined;

  constructor(appCode: AppCode, options: { fields?: FieldErrors; retryAfterSeconds?: number; message?: string } = {}) {
    super(options.message ?? APP_CODE_MESSAGES[appCode]);
    this.name = 'AppError';
    this.appCode = appCode;
    this.kind = APP_CODES[appCode];
    this.fields = options.fields;
    this.retryAfterSeconds = options.retryAfterSeconds;
  }
}

export function isAppError(error: unknown): error is AppError {
  return error instanceof AppError;
}
