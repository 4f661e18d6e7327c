/**
 * The REST bodies: RealWorld's `{ "user": ... }` envelopes and the tutorial's snake_case token
 * fields, built from the very schemas the tRPC procedures validate with, so that both transports
 * accept and refuse the same input. Responses are plain shapes (no transforms), also the source of
 * the OpenAPI document.
 */
import { z } from 'zod';
import {
  existingPasswordSchema,
  loginInput,
  newPasswordSchema,
  registerInput,
  tokenInput,
  verifyMfaInput,
} from '../../modules/account/account.schemas.js';
import type { MfaRequired, Session } from '../../modules/account/sign-in.service.js';
import { eventCursorSchema, pageSizeSchema } from '../../modules/audit/audit.schemas.js';
import type { ActivityEntry, Page } from '../../modules/audit/audit.service.js';
import { confirmTotpInput, recoveryCodeSchema, removeFactorInput, totpCodeSchema } from '../../modules/mfa/mfa.schemas.js';
import type { Factor } from '../../modules/mfa/mfa.service.js';
import { refreshTokenSchema } from '../../modules/session/session.schemas.js';
import { emailSchema, updateInput } from '../../modules/user/user.schemas.js';
import type { User } from '../../modules/user/user.service.js';
import { BLANK } from './errors.js';
import { passkeyAnswer, passkeyJson, requestOptionsJson } from './passkey-schemas.js';

export const registerBody = z.object({ user: registerInput });
export const loginBody = z.object({
  user: loginInput.omit({ deviceToken: true }).extend({
    device_token: loginInput.shape.deviceToken.meta({
      description: 'The `device_token` of an earlier login from this device: failed logins of strangers then cannot lock it out.',
    }),
  }),
});
export const refreshTokenBody = z.object({ refresh_token: refreshTokenSchema });
/** auth.reauthenticate's proofs, in snake_case: the password, a code of the authenticator app, a recovery code, or a passkey. */
export const reauthenticateBody = z.union([
  z.object({ password: existingPasswordSchema }),
  z.object({ code: totpCodeSchema.meta({ description: 'A code of the authenticator app: six digits' }) }),
  z.object({ recovery_code: recoveryCodeSchema.meta({ description: 'One of the recovery codes (ten characters), used up by this' }) }),
  z.object({
    passkey: passkeyAnswer(
      "A passkey's answer (AuthenticationResponseJSON, as `startAuthentication` gives it) to the options of `POST /api/user/passkeys/reauthentication-options`",
    ),
  }),
]);
export const verifyEmailQuery = z.object({ token: tokenInput.shape.token });
export const forgotPasswordBody = z.object({ email: emailSchema });
export const resetPasswordBody = z.object({ token: tokenInput.shape.token, new_password: newPasswordSchema });

/** A page size in a query string: digits, then the same bounds as the tRPC input. */
export const pageSizeParam = z
  .string()
  .regex(/^\d{1,3}$/, 'is invalid')
  .transform(Number)
  .pipe(pageSizeSchema)
  .meta({ description: 'How many to answer, 1 to 100 (default 20)' });
export const cursorParam = eventCursorSchema.meta({ description: 'The `next_cursor` of the previous page' });
export const activityQuery = z.object({ cursor: cursorParam.optional(), limit: pageSizeParam.optional() });

/** Whether `body[key]` of a body that may be anything (a refinement that always runs sees invalid bodies too) is present. */
function has(body: unknown, key: string): boolean {
  return typeof body === 'object' && body !== null && Object.entries(body).some(([name, value]) => name === key && value !== undefined);
}

/** The second step of a login (auth.mfa.verify): the pending sign-in's `mfa_token` and one factor. */
export const loginMfaBody = z
  .object({
    mfa_token: verifyMfaInput.shape.mfaToken.meta({ description: 'The `mfa_token` of the login that answered `mfa_required`' }),
    code: totpCodeSchema.optional().meta({ description: 'A code of the authenticator app: six digits' }),
    recovery_code: recoveryCodeSchema.optional().meta({ description: 'Instead of `code`: one of the recovery codes, used up by this' }),
    passkey: verifyMfaInput.shape.passkey.meta({
      description:
        "Instead of `code`: a passkey's answer (AuthenticationResponseJSON, as `startAuthentication` gives it) to the options of `POST /api/users/login/passkey/options` with this `mfa_token`",
    }),
  })
  .refine((body) => ['code', 'recovery_code', 'passkey'].filter((key) => has(body, key)).length === 1, {
    when: () => true,
    path: ['code'],
    message: 'give one of code, recovery_code or passkey',
  });

export const confirmTotpBody = z.object({
  factor_id: confirmTotpInput.shape.factorId.meta({ description: 'The `factor_id` the enrolment answered' }),
  code: confirmTotpInput.shape.code.meta({ description: 'A code the authenticator app shows for the new secret' }),
});
export const factorPath = z.object({ factor_id: removeFactorInput.shape.factorId });

/** Whether `user[key]` of a body that may be anything (refinements below also run on invalid bodies) is present. */
function userHas(body: unknown, key: 'password' | 'current_password' | 'email'): boolean {
  if (typeof body !== 'object' || body === null || !('user' in body)) return false;
  const user = body.user;
  return typeof user === 'object' && user !== null && Object.entries(user).some(([name, value]) => name === key && value !== undefined);
}

/** Also reported next to other fields' errors, so one round trip shows everything wrong with the form. */
const always = { when: () => true };

/**
 * RealWorld's `PUT /api/user` changes the password with `password` alone. As user.changePassword,
 * it then needs `current_password`, or a token from a sign-in or re-authentication within
 * REAUTH_MAX_AGE (the service decides: 403 REAUTHENTICATION_REQUIRED otherwise).
 */
export const updateUserBody = z
  .object({
    user: updateInput.extend({
      password: newPasswordSchema.optional().meta({
        description:
          'A new password; requires `current_password` unless re-authenticated within REAUTH_MAX_AGE. Empty or null means "unchanged" (RealWorld forms send "").',
      }),
      current_password: existingPasswordSchema
        .optional()
        .meta({ description: 'With `password` or a new `email`, unless re-authenticated within REAUTH_MAX_AGE.' }),
    }),
  })
  .refine((body) => !userHas(body, 'current_password') || userHas(body, 'password') || userHas(body, 'email'), {
    ...always,
    path: ['user', 'password'],
    message: BLANK,
  });

/**
 * RealWorld settings forms send `"password": ""` when the field is left empty: that means
 * "unchanged", not "change it to nothing" (which the password rules would refuse anyway).
 */
export function dropBlankPassword(body: unknown): unknown {
  if (typeof body !== 'object' || body === null || !('user' in body)) return body;
  const user = body.user;
  if (typeof user !== 'object' || user === null || !('password' in user) || (user.password !== '' && user.password !== null)) return body;
  const { password: _blank, ...rest } = user;
  return { ...body, user: rest };
}

export const userJson = z.object({
  email: z.string(),
  username: z.string(),
  bio: z.string().nullable().meta({ description: 'null when empty' }),
  image: z.string().nullable().meta({ description: 'null when empty' }),
  email_verified: z.boolean(),
  pending_email: z
    .string()
    .nullable()
    .meta({ description: 'An address the user asked to move to, until its confirmation links are used; null when none' }),
  token: z.string().meta({ description: 'The access token (a JWT), where RealWorld clients look for it.' }),
});

export const sessionResponse = z.object({
  user: userJson,
  access_token: z.string().meta({ description: 'The access token (a JWT); the same as `user.token`.' }),
  refresh_token: z.string().meta({ description: 'Opaque; exchanged at `POST /api/auth/refresh`, which rotates it.' }),
  device_token: z.string().meta({
    description: 'Opaque; keep it on this device (also after logging out) and send it with every login to this account.',
  }),
});
export const userResponse = z.object({ user: userJson });
export const tokensResponse = z.object({
  access_token: z.string(),
  refresh_token: z.string().meta({ description: 'The rotated refresh token: the one presented stops working after a short grace window.' }),
});
export const messageResponse = z.object({ message: z.string() });
export const reauthenticateResponse = z.object({
  access_token: z.string().meta({ description: 'An access token whose `auth_time` is now: send it with the sensitive request.' }),
  access_token_expires_at: z.string().meta({ description: 'ISO 8601' }),
});
/** What `POST /api/users/login` answers instead of a session when the account has a second factor. */
export const mfaRequiredResponse = z.object({
  mfa_required: z.literal(true),
  mfa_token: z.string().meta({
    description: 'Opaque; send it with a code or a passkey to `POST /api/users/login/mfa`. Single use, valid 5 minutes and for 5 attempts.',
  }),
  factors: z
    .array(z.object({ id: z.string(), type: z.string().meta({ description: '`totp`: an authenticator app; `passkey`: a passkey' }) }))
    .meta({ description: 'The factors the sign-in may continue with' }),
});
export const loginResponse = z.union([sessionResponse, mfaRequiredResponse]);
export const totpEnrollmentResponse = z.object({
  factor_id: z.string().meta({ description: 'The new factor, pending until confirmed with a code' }),
  secret: z.string().meta({ description: 'The secret (base32), shown this once; the authenticator app takes it or the URI' }),
  otpauth_uri: z.string().meta({ description: 'An `otpauth://totp/...` URI, for a QR code' }),
});
export const recoveryCodesResponse = z.object({
  recovery_codes: z.array(z.string()).meta({
    description: 'Shown this once; each works once. Empty when confirming a factor of an account that already has codes.',
  }),
});
export const factorsResponse = z.object({
  factors: z.array(
    z.object({
      id: z.string(),
      type: z.string().meta({ description: '`totp`: an authenticator app; `passkey`: a passkey (managed at `/api/user/passkeys`)' }),
      created_at: z.string().meta({ description: 'ISO 8601' }),
      last_used_at: z.string().nullable().meta({
        description:
          'ISO 8601: when a code of it was last accepted (its confirmation, at first), or the passkey last answered; null when never',
      }),
    }),
  ),
});

export function toMfaRequiredJson(answer: MfaRequired): z.input<typeof mfaRequiredResponse> {
  return { mfa_required: true, mfa_token: answer.mfaToken, factors: answer.factors.map(({ id, type }) => ({ id, type })) };
}

export function toFactorsJson(factors: readonly Factor[]): z.input<typeof factorsResponse> {
  return {
    factors: factors.map((factor) => ({
      id: factor.id,
      type: factor.type,
      created_at: factor.createdAt.toISOString(),
      last_used_at: factor.lastUsedAt?.toISOString() ?? null,
    })),
  };
}

export const nextCursorJson = z
  .string()
  .nullable()
  .meta({ description: 'Send as `cursor` for the next (older) page; null on the last page' });
export const activityResponse = z.object({
  events: z.array(
    z.object({
      id: z.string(),
      type: z.string().meta({ description: 'One of the security event types (docs/security.md)' }),
      created_at: z.string().meta({ description: 'ISO 8601' }),
      ip: z.string().nullable(),
      user_agent: z.string().nullable(),
      current: z.boolean().meta({ description: 'Whether the event belongs to the session asking' }),
    }),
  ),
  next_cursor: nextCursorJson,
});

export function toActivityJson(page: Page<ActivityEntry>): z.input<typeof activityResponse> {
  return {
    events: page.events.map((event) => ({
      id: event.id,
      type: event.type,
      created_at: event.createdAt.toISOString(),
      ip: event.ip,
      user_agent: event.userAgent,
      current: event.current,
    })),
    next_cursor: page.nextCursor,
  };
}

export const errorResponse = z.object({
  errors: z
    .record(z.string(), z.array(z.string()))
    .meta({ description: 'Messages per field, e.g. { "email": ["has already been taken"] }' }),
  code: z.string().optional().meta({ description: 'The stable appCode (e.g. ACCESS_TOKEN_EXPIRED) when the failure has one' }),
});

/** Schemas the document names and the routes share. */
export const SHARED_SCHEMAS: ReadonlyArray<readonly [string, z.ZodType]> = [
  ['UserJson', userJson],
  ['MfaRequiredResponse', mfaRequiredResponse],
  ['PasskeyJson', passkeyJson],
  ['PasskeyRequestOptions', requestOptionsJson],
  ['ErrorResponse', errorResponse],
];

export function toUserJson(user: User, token: string): z.input<typeof userJson> {
  return {
    email: user.email,
    username: user.username,
    bio: user.bio,
    image: user.image,
    email_verified: user.emailVerified,
    pending_email: user.pendingEmail,
    token,
  };
}

/** The body of a sign-in (register, login): the user, their access token and their refresh token. */
export function toSessionJson(session: Session): z.input<typeof sessionResponse> {
  return {
    user: toUserJson(session.user, session.accessToken),
    access_token: session.accessToken,
    refresh_token: session.refreshToken,
    device_token: session.deviceToken,
  };
}
