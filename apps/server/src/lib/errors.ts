/**
 * Domain errors. Every failure a client can branch on has a stable `appCode` from the catalogue in
 * `@latchkey/protocol`; the transport (tRPC, REST) maps the `kind` to its own status in one place.
 */
import { APP_CODE_MESSAGES, APP_CODES, type AppCode, type AppCodeKind } from '@latchkey/protocol';

export type { AppCode } from '@latchkey/protocol';
export type AppErrorKind = AppCodeKind;
export type FieldErrors = Record<string, string[]>;

/** PostgreSQL refuses U+0000 in text (SQLSTATE 22021) and in jsonb (22P05), as pg and PGlite report it. */
const UNSTORABLE_TEXT = new Set(['22021', '22P05']);

/**
 * A database error that says the input held text PostgreSQL cannot store (a NUL character), as
 * the validation error it is: the schemas refuse NUL in what they store, and this keeps any field
 * they miss a 400, never a 500.
 */
export function unstorableTextError(error: unknown): AppError | undefined {
  if (typeof error !== 'object' || error === null || !('code' in error) || typeof error.code !== 'string') return undefined;
  if (!UNSTORABLE_TEXT.has(error.code)) return undefined;
  return new AppError('VALIDATION_FAILED', { fields: { input: [NUL_MESSAGE] } });
}

export const NUL_MESSAGE = 'may not contain a NUL character';
/** For free text that is stored: anything but U+0000, which PostgreSQL cannot store. */
export const hasNoNul = (text: string): boolean => !text.includes('\u0000');

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
