/**
 * Generates docs/api.md, the reference of every tRPC procedure and REST route, from the router
 * (kinds and input schemas), the REST route table and the OpenAPI document the server serves
 * (bodies, answers, statuses), and the appCode catalogue of @latchkey/protocol. What the code
 * cannot say at run time (outputs, which appCodes a procedure's own rules send) is the catalogue
 * below: its outputs are checked against the router's inferred types by the compiler, and a
 * procedure missing from it (or listed but gone) stops the script.
 *
 *   pnpm --filter @latchkey/server docs:api           writes docs/api.md
 *   pnpm --filter @latchkey/server docs:api --check   exits 1 when docs/api.md is not what it would write
 *
 * test/api-doc.test.ts fails when the committed file differs, and checks each documented access
 * (public or signed in) against what the procedure does without a token.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ACCESS_TOKEN_REFUSALS, APP_CODE_MESSAGES, APP_CODES, type AppCode } from '@latchkey/protocol';
import type { AnyTRPCProcedure, inferRouterOutputs } from '@trpc/server';
import { z } from 'zod';
import { buildOpenApiDocument, type OpenApiDocument, type Operation } from '../src/http/openapi.js';
import { fromAppError } from '../src/http/rest/errors.js';
import { restRoutes } from '../src/http/rest/routes.js';
import { AppError } from '../src/lib/errors.js';
import { type AppRouter, appRouter } from '../src/router.js';

const ROOT = join(import.meta.dirname, '..', '..', '..');
export const API_DOC_PATH = join(ROOT, 'docs', 'api.md');

type Outputs = inferRouterOutputs<AppRouter>;
/**
 * The dotted path of every procedure, however deep its routers nest (`user.me`, `admin.users.list`,
 * `auth.mfa.totp.enroll`): a leaf of the router's record is a procedure, anything else a router.
 */
type PathsOf<R, Prefix extends string = ''> = {
  [K in keyof R & string]: R[K] extends AnyTRPCProcedure ? `${Prefix}${K}` : PathsOf<R[K], `${Prefix}${K}.`>;
}[keyof R & string];
type ProcedurePath = PathsOf<AppRouter['_def']['record']>;
/** What the router's inferred outputs hold at a dotted path. */
type At<T, P extends string> = P extends `${infer Head}.${infer Rest}`
  ? Head extends keyof T
    ? At<T[Head], Rest>
    : never
  : P extends keyof T
    ? T[P]
    : never;
type OutputOf<P extends ProcedurePath> = At<Outputs, P>;

/** The field names of an output (of its elements, for a list; of every member, for a union), which the catalogue must match exactly. */
type FieldsOf<T> = T extends readonly (infer E)[] ? keyof E : keyof T;
/** The member of an output (of its elements, for a list) that has all these fields: the output itself, when it is no union. */
type MemberWith<O, K extends PropertyKey> = O extends readonly (infer E)[]
  ? MemberWith<E, K>
  : O extends unknown
    ? [K] extends [keyof O]
      ? O
      : never
    : never;
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;

/** Named output shapes, each pinned to the procedure whose output (or one member of whose output) it is. */
const TYPES = {
  User: {
    of: 'user.me',
    fields: {
      id: 'string (uuid)',
      email: 'string',
      username: 'string',
      bio: 'string | null',
      image: 'string | null',
      emailVerified: 'boolean',
      pendingEmail: 'string | null (an address asked for, until both confirmation links are used)',
      createdAt: 'Date',
    },
  },
  Session: {
    of: 'auth.login',
    when: ' and `auth.exchangeCode` when the account has no second factor, and of `auth.mfa.verify` and `auth.passkeys.authenticate`',
    fields: {
      user: 'User',
      accessToken: 'string (a JWT)',
      refreshToken: 'string (opaque)',
      accessTokenExpiresAt: 'Date',
      refreshTokenExpiresAt: 'Date',
      deviceToken: 'string (opaque; keep it across logouts and send it with every login)',
    },
  },
  MfaRequired: {
    of: 'auth.login',
    when: ' and `auth.exchangeCode` when the account has a second factor (continue with `auth.mfa.verify`)',
    fields: {
      mfaRequired: 'true',
      mfaToken: 'string (opaque; single use, 5 minutes, 5 attempts)',
      factors: '{ id: string; type: "totp" | "passkey" }[]',
    },
  },
  Tokens: {
    of: 'auth.refresh',
    fields: {
      accessToken: 'string (a JWT)',
      refreshToken: 'string (opaque, rotated)',
      accessTokenExpiresAt: 'Date',
      refreshTokenExpiresAt: 'Date',
    },
  },
  AdminUser: {
    of: 'admin.users.disable',
    fields: {
      id: 'string (uuid)',
      email: 'string',
      username: 'string',
      role: '"user" | "admin"',
      emailVerified: 'boolean',
      disabledAt: 'Date | null',
      createdAt: 'Date',
    },
  },
  SessionInfo: {
    of: 'auth.sessions',
    when: ', one element',
    fields: {
      id: 'string (uuid)',
      createdAt: 'Date',
      lastUsedAt: 'Date',
      expiresAt: 'Date',
      userAgent: 'string | null',
      ip: 'string | null',
      current: 'boolean (the session of this call)',
    },
  },
  Factor: {
    of: 'auth.mfa.factors',
    when: ', one element',
    fields: {
      id: 'string (uuid; of the passkey, for a passkey)',
      type: '"totp" | "passkey"',
      createdAt: 'Date',
      lastUsedAt: 'Date | null (the last code or assertion accepted)',
    },
  },
  Passkey: {
    of: 'auth.passkeys.list',
    when: ', one element',
    fields: {
      id: 'string (uuid)',
      name: 'string',
      createdAt: 'Date',
      lastUsedAt: 'Date | null (its last accepted assertion)',
      backedUp: 'boolean (the authenticator says it is synced now)',
      deviceType: '"singleDevice" | "multiDevice" (multiDevice: backup-eligible, a synced passkey)',
    },
  },
  Provider: {
    of: 'auth.providers',
    when: ', one element',
    fields: {
      id: 'string (the {provider} of /auth/oidc/{provider}/start: <ID> of OIDC_<ID>_* in lower case, or github)',
      name: 'string (display name: OIDC_<ID>_NAME, Google, GitHub, ...)',
    },
  },
  Identity: {
    of: 'auth.identities.list',
    when: ', one element',
    fields: {
      id: 'string (uuid)',
      provider: 'string (the provider id)',
      email: 'string | null (what the provider said at the last sign-in)',
      emailVerified: 'boolean (whether the provider said it is verified)',
      createdAt: 'Date (linked then)',
      lastUsedAt: 'Date | null (its last sign-in)',
    },
  },
  PublicKeyCredentialCreationOptionsJSON: {
    of: 'auth.passkeys.registrationOptions',
    when: "; WebAuthn's JSON, for `startRegistration({ optionsJSON })` of @simplewebauthn/browser",
    fields: {
      rp: '{ name: string; id: string }',
      user: '{ id: string (the random user handle, base64url); name: string (the email); displayName: string (the username) }',
      challenge: 'string (base64url)',
      pubKeyCredParams: '{ alg: number; type: "public-key" }[] (Ed25519, ES256, RS256)',
      timeout: 'number (ms)',
      excludeCredentials: '{ id: string; type: "public-key"; transports?: string[] }[] (the account\'s passkeys)',
      authenticatorSelection: '{ residentKey: "required"; requireResidentKey: true; userVerification: "required" }',
      hints: 'string[] (empty)',
      attestation: '"none"',
      attestationFormats: 'string[] (not sent: any)',
      extensions: '{ credProps: true }',
    },
  },
} as const;
type TypeName = keyof typeof TYPES;

interface ProcedureDoc {
  /** `admin`: signed in with the role admin (others get ADMIN_ONLY). */
  access: 'public' | 'signed in' | 'admin';
  /** A named type, a list of one (`SessionInfo[]`), one of two (`Session | MfaRequired`), or the fields of an inline object. */
  output: TypeName | `${TypeName}[]` | `${TypeName} | ${TypeName}` | Readonly<Record<string, string>>;
  /** The appCodes of the procedure's own rules; VALIDATION_FAILED (with an input) and the access-token refusals (signed in) are added. */
  appCodes: readonly AppCode[];
  note: string;
}

const PROCEDURES = {
  'auth.register': {
    access: 'public',
    output: 'Session',
    appCodes: ['EMAIL_TAKEN', 'USERNAME_TAKEN', 'RATE_LIMITED'],
    note: 'Creates the account and its first session; a verification mail is queued.',
  },
  'auth.login': {
    access: 'public',
    output: 'Session | MfaRequired',
    appCodes: ['INVALID_CREDENTIALS', 'ACCOUNT_DISABLED', 'RATE_LIMITED'],
    note: "An unknown email and a wrong password answer alike, after the same work. `deviceToken` (from an earlier login on this device) keeps strangers' failures from locking the device out. For an account with a second factor (an authenticator app or a passkey), the right password answers `MfaRequired` instead of a session, its `factors` listing them: continue with `auth.mfa.verify`.",
  },
  'auth.reauthenticate': {
    access: 'signed in',
    output: { accessToken: 'string (a JWT whose auth_time is now)', accessTokenExpiresAt: 'Date' },
    appCodes: ['INVALID_CREDENTIALS', 'MFA_CODE_INVALID', 'FACTOR_NOT_FOUND', 'PASSKEY_INVALID', 'CHALLENGE_EXPIRED', 'RATE_LIMITED'],
    note: "Proves again who is signed in, with `{ password }`, `{ code }` (the authenticator app), `{ recoveryCode }` or `{ passkey }` (an assertion for the options of `auth.passkeys.authenticationOptions({ reauthenticate: true })`, asked for with this session's token): with the token it answers, for `REAUTH_MAX_AGE`, a new email or password needs no `currentPassword`. For an account with a second factor, the sensitive actions need a re-authentication with a code or a passkey (the password alone is not enough); a code for an account without one is `FACTOR_NOT_FOUND`. A passkey proves both factors when the session began with the password (`amr` pwd, hwk, mfa), `hwk` otherwise; one that does not verify is `PASSKEY_INVALID`, a challenge unknown, used or expired `CHALLENGE_EXPIRED`.",
  },
  'auth.refresh': {
    access: 'public',
    output: 'Tokens',
    appCodes: ['REFRESH_TOKEN_INVALID', 'REFRESH_TOKEN_EXPIRED', 'REFRESH_TOKEN_REUSED', 'RATE_LIMITED'],
    note: 'Rotates the refresh token. The one just rotated works again within `REFRESH_REUSE_GRACE` (same successor); an older one revokes the session.',
  },
  'auth.logout': {
    access: 'public',
    output: { success: 'true' },
    appCodes: [],
    note: 'Ends the session of the refresh token; idempotent (an unknown or ended token succeeds too).',
  },
  'auth.logoutAll': {
    access: 'signed in',
    output: { revoked: 'number' },
    appCodes: [],
    note: 'Ends every session of the user, this one included.',
  },
  'auth.sessions': { access: 'signed in', output: 'SessionInfo[]', appCodes: [], note: 'The live sessions of the user.' },
  'auth.revokeSession': {
    access: 'signed in',
    output: { success: 'true' },
    appCodes: ['SESSION_NOT_FOUND'],
    note: 'Ends one live session of the user (another device, or this one).',
  },
  'auth.verifyEmail': {
    access: 'public',
    output: { user: 'User' },
    appCodes: ['TOKEN_INVALID', 'TOKEN_EXPIRED', 'EMAIL_TAKEN', 'RATE_LIMITED'],
    note: 'Uses the token of a verification mail, or of one of the two confirmations of an email change, once.',
  },
  'auth.resendVerification': {
    access: 'signed in',
    output: { success: 'true' },
    appCodes: ['RATE_LIMITED'],
    note: 'Queues a new verification mail when the address is not verified yet.',
  },
  'auth.forgotPassword': {
    access: 'public',
    output: { message: 'string' },
    appCodes: ['RATE_LIMITED'],
    note: 'Queues a reset mail when the address has an account; the answer is the same for every address.',
  },
  'auth.resetPassword': {
    access: 'public',
    output: { success: 'true' },
    appCodes: ['TOKEN_INVALID', 'TOKEN_EXPIRED', 'RATE_LIMITED'],
    note: 'Sets the new password with the token of a reset mail, once; ends every session of the user.',
  },
  'auth.activity': {
    access: 'signed in',
    output: { events: 'ActivityEntry[]', nextCursor: 'string | null' },
    appCodes: [],
    note: "The user's own security events, newest first; pass `nextCursor` back as `cursor` for older ones.",
  },
  'auth.mfa.totp.enroll': {
    access: 'signed in',
    output: { factorId: 'string (uuid)', secret: 'string (base32; shown this once)', otpauthUri: 'string (otpauth://totp/...)' },
    appCodes: ['REAUTHENTICATION_REQUIRED', 'FACTOR_EXISTS'],
    note: 'Starts setting up an authenticator app (TOTP: SHA-1, 6 digits, 30 s): a pending factor whose secret is shown this once. Needs a recent proof of identity (one with a code, once the account has a factor); one app per account, and an unconfirmed set-up makes way for another after 10 minutes.',
  },
  'auth.mfa.totp.confirm': {
    access: 'signed in',
    output: { recoveryCodes: 'string[] (10, shown this once; empty when the account already has codes)' },
    appCodes: ['FACTOR_NOT_FOUND', 'MFA_CODE_INVALID', 'RATE_LIMITED'],
    note: "Activates the pending factor with a code of the app; from then on, logins ask for a code. The account's first factor also gets 10 recovery codes.",
  },
  'auth.mfa.factors': {
    access: 'signed in',
    output: 'Factor[]',
    appCodes: [],
    note: 'The active second factors of the user, oldest first.',
  },
  'auth.mfa.remove': {
    access: 'signed in',
    output: { success: 'true' },
    appCodes: ['REAUTHENTICATION_REQUIRED', 'FACTOR_NOT_FOUND'],
    note: 'Removes an active or pending factor; the last active one takes the recovery codes with it. Needs a re-authentication within `REAUTH_MAX_AGE` that included a code.',
  },
  'auth.mfa.recoveryCodes.regenerate': {
    access: 'signed in',
    output: { recoveryCodes: 'string[] (10, shown this once)' },
    appCodes: ['REAUTHENTICATION_REQUIRED', 'FACTOR_NOT_FOUND'],
    note: 'Replaces every recovery code with 10 new ones. Needs a re-authentication within `REAUTH_MAX_AGE` that included a code; `FACTOR_NOT_FOUND` without an active factor.',
  },
  'auth.mfa.verify': {
    access: 'public',
    output: 'Session',
    appCodes: [
      'MFA_TOKEN_INVALID',
      'MFA_TOKEN_EXPIRED',
      'MFA_CODE_INVALID',
      'PASSKEY_INVALID',
      'CHALLENGE_EXPIRED',
      'ACCOUNT_DISABLED',
      'RATE_LIMITED',
    ],
    note: "The second step of a login: its `mfaToken` with `code`, `recoveryCode` or `passkey` (an assertion for the options of `auth.passkeys.authenticationOptions({ mfaToken })`), answering the session (`amr` pwd, otp, mfa with a code, pwd, hwk, mfa with a passkey; `aal` 2). The token is single use, lives 5 minutes and dies after 5 wrong attempts; wrong codes and passkeys that do not verify (`PASSKEY_INVALID`) count in the login's back-off.",
  },
  'auth.passkeys.registrationOptions': {
    access: 'signed in',
    output: 'PublicKeyCredentialCreationOptionsJSON',
    appCodes: ['REAUTHENTICATION_REQUIRED', 'RATE_LIMITED'],
    note: "Starts registering a passkey: options for `startRegistration` (a discoverable credential, user verification required, the account's passkeys excluded, `user.id` a random handle of the account). Needs a recent proof of identity (one that included the second factor, once the account has one). A mutation: it stores a challenge, single use, for 5 minutes, bound to this session; ceremonies started are limited per address.",
  },
  'auth.passkeys.register': {
    access: 'signed in',
    output: { passkey: 'Passkey', recoveryCodes: "string[] (10 with the account's first second factor, shown this once; else empty)" },
    appCodes: ['REAUTHENTICATION_REQUIRED', 'PASSKEY_INVALID', 'CHALLENGE_EXPIRED'],
    note: "Verifies `response` (the browser's answer to `registrationOptions`) and stores the passkey under `name` (default `Passkey`); from then on it signs in alone, and a password login asks for it as the second factor. `PASSKEY_INVALID` when it does not verify (another origin or RP ID, no user verification, a challenge of another session) or its credential is registered already (to anyone); `CHALLENGE_EXPIRED` when its challenge is unknown, used or expired; `VALIDATION_FAILED` past 20 passkeys per account. Needs a recent proof of identity, as the options do.",
  },
  'auth.passkeys.list': {
    access: 'signed in',
    output: 'Passkey[]',
    appCodes: [],
    note: "The user's passkeys, oldest first (no key material).",
  },
  'auth.passkeys.rename': {
    access: 'signed in',
    output: 'Passkey',
    appCodes: ['PASSKEY_NOT_FOUND'],
    note: "Renames one of the user's passkeys (1 to 64 characters, trimmed); `PASSKEY_NOT_FOUND` for one that is not theirs. Needs no recent proof.",
  },
  'auth.passkeys.remove': {
    access: 'signed in',
    output: { success: 'true' },
    appCodes: ['REAUTHENTICATION_REQUIRED', 'PASSKEY_NOT_FOUND', 'LAST_SIGN_IN_METHOD'],
    note: "Removes one of the user's passkeys; the last second factor takes the recovery codes with it. Needs a re-authentication within `REAUTH_MAX_AGE` that included the second factor; `LAST_SIGN_IN_METHOD` when the account would be left with no way in (no password, no other passkey, no external identity).",
  },
  'auth.passkeys.authenticationOptions': {
    access: 'public',
    output: { challengeId: 'string (uuid)', options: "PublicKeyCredentialRequestOptionsJSON (WebAuthn's JSON, for startAuthentication)" },
    appCodes: ['MFA_TOKEN_INVALID', 'MFA_TOKEN_EXPIRED', ...ACCESS_TOKEN_REFUSALS, 'RATE_LIMITED'],
    note: "Options for an assertion, user verification required. Without input (or `{}`): any passkey (usernameless, conditional UI; `allowCredentials` empty); `{ email }`: only that account's, with the same answer whether or not it exists; `{ mfaToken }`: a passkey of the pending login's account, for `auth.mfa.verify`; `{ reauthenticate: true }`: the signed-in user's (the access token is then required: its refusals), for `auth.reauthenticate`. A mutation: it stores a challenge, single use, for 5 minutes; ceremonies started are limited per address.",
  },
  'auth.passkeys.authenticate': {
    access: 'public',
    output: 'Session',
    appCodes: ['PASSKEY_INVALID', 'CHALLENGE_EXPIRED', 'ACCOUNT_DISABLED', 'RATE_LIMITED'],
    note: "Signs in with a passkey alone: `response` is the browser's answer to the options of `authenticationOptions` whose `challengeId` it gives. A user-verified passkey is two factors: the session's `amr` is hwk and its `aal` 2. `PASSKEY_INVALID` when it does not verify (unknown credential, another account's than the email asked for, another origin, no user verification, a signature count that did not go up, a change of backup eligibility); `CHALLENGE_EXPIRED` when the challenge is unknown, used or expired, or not the one of `challengeId`. Counted in the login's per-address limit.",
  },
  'auth.providers': {
    access: 'public',
    output: 'Provider[]',
    appCodes: [],
    note: 'The configured external sign-in providers (each `OIDC_<ID>_ISSUER` with its client, and GitHub with `GITHUB_CLIENT_ID`), in that order, for the buttons of a sign-in page: each sends the browser to `GET /auth/oidc/{id}/start?redirect_to=<page>` (see Browser routes). Nothing is fetched from a provider to answer.',
  },
  'auth.exchangeCode': {
    access: 'public',
    output: 'Session | MfaRequired',
    appCodes: ['TOKEN_INVALID', 'ACCOUNT_DISABLED', 'RATE_LIMITED'],
    note: 'The one-time code that the callback of an external sign-in put in the fragment of `redirect_to` (`#code=...`), for the session of its account, as `auth.login` answers: a `Session` whose access token says `amr` fed, or `MfaRequired` for an account with a second factor (continue with `auth.mfa.verify`; the session then says fed, otp or hwk, mfa). The code is single use and lives 60 seconds: unknown, used or expired is `TOKEN_INVALID` (start the sign-in again); bad codes are counted per address with the other link tokens.',
  },
  'auth.identities.list': {
    access: 'signed in',
    output: 'Identity[]',
    appCodes: [],
    note: "The external identities linked to the user, oldest first. An identity is the provider's (issuer, subject), never an email.",
  },
  'auth.identities.linkStart': {
    access: 'signed in',
    output: { url: "string (this server's /auth/oidc/{provider}/start?link=<ticket>: navigate the browser there)" },
    appCodes: ['REAUTHENTICATION_REQUIRED', 'PROVIDER_UNAVAILABLE', 'RATE_LIMITED'],
    note: 'Starts a flow that links an identity of `provider` to the user, and answers the URL to send the browser to: its ticket opens once, within 10 minutes, binds the flow to that browser and redirects to the provider, whose answer sends the browser back to `redirectTo` with `#link_code=` (which only this user, signed in, can turn into the link with `auth.identities.linkComplete`) or `#error=`. Needs a recent proof of identity (one that included the second factor, once the account has one). `PROVIDER_UNAVAILABLE` for a provider that is not configured; `VALIDATION_FAILED` (`fields.redirectTo`) for a `redirectTo` outside `ALLOWED_REDIRECTS`. Flows started are limited per address.',
  },
  'auth.identities.linkComplete': {
    access: 'signed in',
    output: 'Identity',
    appCodes: ['TOKEN_INVALID', 'IDENTITY_IN_USE', 'RATE_LIMITED'],
    note: "Links the identity a link flow's callback found (the `#link_code=` of `redirectTo`) to the signed-in user, who must be the one who started the flow: for anyone else, or a used or expired code, `TOKEN_INVALID`. `IDENTITY_IN_USE` when another account has the identity.",
  },
  'auth.identities.unlink': {
    access: 'signed in',
    output: { success: 'true' },
    appCodes: ['REAUTHENTICATION_REQUIRED', 'IDENTITY_NOT_FOUND', 'LAST_SIGN_IN_METHOD'],
    note: "Unlinks one of the user's identities: it signs in to this account no more. Needs a recent proof of identity (one that included the second factor, once the account has one); `IDENTITY_NOT_FOUND` for one that is not theirs; `LAST_SIGN_IN_METHOD` when the account would be left with no way in (no password, no passkey, no other identity: the reset flow sets a password).",
  },
  'user.me': { access: 'signed in', output: 'User', appCodes: [], note: 'The signed-in user.' },
  'user.update': {
    access: 'signed in',
    output: 'User',
    appCodes: ['EMAIL_TAKEN', 'USERNAME_TAKEN', 'REAUTHENTICATION_REQUIRED', 'INVALID_CREDENTIALS', 'RATE_LIMITED'],
    note: '`bio` and `image`: `""` or `null` clears them. A new email needs `currentPassword` or a recent re-authentication (for an account with a second factor, a recent re-authentication with a code, whether or not `currentPassword` is sent), and stays `pendingEmail` until the links mailed to it and (when verified) to the current address are both used.',
  },
  'user.changePassword': {
    access: 'signed in',
    output: { success: 'true' },
    appCodes: ['INVALID_CREDENTIALS', 'REAUTHENTICATION_REQUIRED', 'RATE_LIMITED'],
    note: 'Needs `currentPassword` or a recent re-authentication (`REAUTH_MAX_AGE`; for an account with a second factor, a recent re-authentication with a code, whether or not `currentPassword` is sent). A wrong `currentPassword` is `INVALID_CREDENTIALS` with `fields.currentPassword`. Ends every other session of the user.',
  },
  'admin.users.list': {
    access: 'admin',
    output: { users: 'AdminUserListEntry[]', nextCursor: 'string | null' },
    appCodes: [],
    note: 'Users by email or username prefix (`query`), keyset-paginated, with their last sign-in and live session count.',
  },
  'admin.users.get': {
    access: 'admin',
    output: { user: 'AdminUser', sessions: 'SessionInfo[] (without current)', events: 'SecurityEvent[] (the last 50)' },
    appCodes: ['USER_NOT_FOUND'],
    note: 'One user, their live sessions and their last 50 security events.',
  },
  'admin.users.disable': {
    access: 'admin',
    output: 'AdminUser',
    appCodes: ['REAUTHENTICATION_REQUIRED', 'USER_NOT_FOUND', 'ADMIN_SELF_CHANGE'],
    note: 'No login, no refresh, every session ended on every instance within a second; the owner is told by mail.',
  },
  'admin.users.enable': {
    access: 'admin',
    output: 'AdminUser',
    appCodes: ['REAUTHENTICATION_REQUIRED', 'USER_NOT_FOUND'],
    note: 'Login works again; the old sessions stay ended.',
  },
  'admin.users.revokeSessions': {
    access: 'admin',
    output: { revoked: 'number' },
    appCodes: ['REAUTHENTICATION_REQUIRED', 'USER_NOT_FOUND'],
    note: 'Ends every session of the user.',
  },
  'admin.users.setRole': {
    access: 'admin',
    output: 'AdminUser',
    appCodes: ['REAUTHENTICATION_REQUIRED', 'USER_NOT_FOUND', 'ADMIN_SELF_CHANGE', 'LAST_ADMIN'],
    note: '`user` or `admin`; an admin cannot demote themself, and the last admin stays.',
  },
  'admin.events.list': {
    access: 'admin',
    output: { events: 'SecurityEvent[]', nextCursor: 'string | null' },
    appCodes: [],
    note: 'The security event log, newest first, by user, type and time, keyset-paginated.',
  },
} as const satisfies Record<ProcedurePath, ProcedureDoc>;

// The compiler keeps the catalogue true to the router: every procedure is listed (`satisfies`
// above), and each output lists exactly the fields the procedure returns.
type OutputFields<O> = O extends `${infer A extends TypeName} | ${infer B extends TypeName}`
  ? keyof (typeof TYPES)[A]['fields'] | keyof (typeof TYPES)[B]['fields']
  : O extends `${infer T extends TypeName}[]`
    ? keyof (typeof TYPES)[T]['fields']
    : O extends TypeName
      ? keyof (typeof TYPES)[O]['fields']
      : keyof O;
type CatalogueMatches = {
  [P in ProcedurePath]: Same<FieldsOf<OutputOf<P>>, OutputFields<(typeof PROCEDURES)[P]['output']>>;
};
type TypesMatch = {
  [T in TypeName]: Same<
    FieldsOf<MemberWith<OutputOf<(typeof TYPES)[T]['of']>, keyof (typeof TYPES)[T]['fields']>>,
    keyof (typeof TYPES)[T]['fields']
  >;
};
/** `true` only when every member is: a single mismatch makes it `never`, and the line below an error. */
type All<T extends boolean> = false extends T ? never : true;
const outputsMatch: All<CatalogueMatches[ProcedurePath] | TypesMatch[TypeName]> = true;
void outputsMatch;

interface RouterProcedure {
  _def: { type: 'query' | 'mutation' | 'subscription'; inputs: z.ZodType[] };
}

/**
 * The router's procedures by dotted path. tRPC keeps them flat in `_def.procedures`, which this
 * script and test/fuzz.test.ts read (tRPC is pinned exactly; the tests run against it).
 */
export function routerProcedures(): [string, RouterProcedure][] {
  return Object.entries(appRouter._def.procedures as unknown as Record<string, RouterProcedure>);
}

export function documentedProcedures(): Readonly<Record<string, ProcedureDoc>> {
  return PROCEDURES;
}

type Schema = z.core.JSONSchema.BaseSchema;

/** A JSON Schema as a one-line TypeScript-like shape: `{ email: string; bio?: string | null }`. */
function shape(schema: Schema | boolean | undefined): string {
  if (schema === undefined || schema === true) return 'unknown';
  if (schema === false) return 'never';
  if (schema.$ref) return schema.$ref.replace(/^#\/components\/schemas\//, '');
  if (schema.const !== undefined) return JSON.stringify(schema.const);
  if (schema.enum) return schema.enum.map((value) => JSON.stringify(value)).join(' | ');
  if (schema.anyOf) return schema.anyOf.map((part) => shape(part)).join(' | ');
  if (schema.oneOf) return schema.oneOf.map((part) => shape(part)).join(' | ');
  const types = Array.isArray(schema.type) ? schema.type : schema.type ? [schema.type] : [];
  if (types.length > 1) return types.map((type) => shape({ ...schema, type })).join(' | ');
  switch (types[0]) {
    case 'object': {
      const required = new Set(schema.required ?? []);
      const fields = Object.entries(schema.properties ?? {}).map(
        ([name, field]) => `${name}${required.has(name) ? '' : '?'}: ${shape(field)}`,
      );
      if (fields.length === 0 && schema.additionalProperties && typeof schema.additionalProperties === 'object') {
        return `{ [field: string]: ${shape(schema.additionalProperties)} }`;
      }
      return `{ ${fields.join('; ')} }`;
    }
    case 'array':
      return `${shape(Array.isArray(schema.items) ? schema.items[0] : schema.items)}[]`;
    case 'string':
      return schema.format === 'email' || schema.format === 'uuid' ? `string (${schema.format})` : 'string';
    case 'integer':
    case 'number':
    case 'boolean':
    case 'null':
      return types[0];
    default:
      return 'unknown';
  }
}

function code(text: string): string {
  return `\`${text.replaceAll('|', '\\|')}\``;
}

function outputText(output: ProcedureDoc['output']): string {
  if (typeof output === 'string') return code(output);
  return code(
    `{ ${Object.entries(output)
      .map(([name, type]) => `${name}: ${type}`)
      .join('; ')} }`,
  );
}

function appCodesOf(path: string, doc: ProcedureDoc, hasInput: boolean): AppCode[] {
  const codes: AppCode[] = [...(hasInput ? (['VALIDATION_FAILED'] as const) : []), ...doc.appCodes];
  if (doc.access !== 'public') codes.push(...ACCESS_TOKEN_REFUSALS);
  if (doc.access === 'admin') codes.push('ADMIN_ONLY');
  // Only a public procedure without input and rules of its own (auth.providers) has none.
  const unique = [...new Set(codes)];
  if (unique.length === 0 && (doc.access !== 'public' || hasInput)) throw new Error(`${path}: no appCode at all`);
  return unique;
}

/** The REST status an appCode is answered with, by the REST layer's own mapping. */
function restStatus(appCode: AppCode): number {
  return fromAppError(new AppError(appCode)).status;
}

function proceduresSection(): string[] {
  const listed = new Set(Object.keys(PROCEDURES));
  const inRouter = routerProcedures();
  const missing = inRouter.map(([path]) => path).filter((path) => !listed.has(path));
  const gone = [...listed].filter((path) => !inRouter.some(([p]) => p === path));
  if (missing.length > 0 || gone.length > 0) {
    throw new Error(
      `the catalogue in scripts/api-doc.ts is out of date: add ${missing.join(', ') || '-'}; remove ${gone.join(', ') || '-'}`,
    );
  }
  const lines = ['| procedure | kind | access | input | output | appCodes |', '| --- | --- | --- | --- | --- | --- |'];
  const notes: string[] = [];
  for (const [path, procedure] of inRouter) {
    const doc = (PROCEDURES as Record<string, ProcedureDoc>)[path];
    if (!doc) continue;
    const schema = procedure._def.inputs[0];
    const input = schema ? code(shape(z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as Schema)) : 'none';
    const codes =
      appCodesOf(path, doc, schema !== undefined)
        .map((c) => code(c))
        .join(', ') || 'none';
    lines.push(`| \`${path}\` | ${procedure._def.type} | ${doc.access} | ${input} | ${outputText(doc.output)} | ${codes} |`);
    notes.push(`- \`${path}\`: ${doc.note}`);
  }
  return [...lines, '', ...notes];
}

function typesSection(): string[] {
  return Object.entries(TYPES).map(
    ([name, type]) =>
      `- \`${name}\` (the output of \`${type.of}\`${'when' in type ? type.when : ''}): ${code(
        `{ ${Object.entries(type.fields)
          .map(([field, fieldType]) => `${field}: ${fieldType}`)
          .join('; ')} }`,
      )}`,
  );
}

function referenceName(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || !('$ref' in value) || typeof value.$ref !== 'string') return undefined;
  return value.$ref.split('/').pop();
}

/** The browser steps of external sign-in: in the OpenAPI document, but redirects and pages rather than JSON routes. */
const isBrowserRoute = (path: string) => path.startsWith('/auth/oidc/');

function restSection(document: OpenApiDocument): string[] {
  const lines = ['| route | access | request | success | other statuses | procedure |', '| --- | --- | --- | --- | --- | --- |'];
  const procedureNames = Object.keys(PROCEDURES);
  for (const [path, item] of Object.entries(document.paths)) {
    if (isBrowserRoute(path)) continue;
    for (const [method, operation] of Object.entries(item) as [string, Operation][]) {
      const body = referenceName(operation.requestBody?.content['application/json']?.schema);
      const parameters = operation.parameters ?? [];
      const query = parameters
        .filter((p) => p.in === 'query')
        .map((p) => `${p.name}${p.required ? '' : '?'}=`)
        .join('&');
      const inPath = parameters.filter((p) => p.in === 'path').map((p) => `{${p.name}}`);
      const pathText = inPath.length > 0 ? `path ${inPath.map((name) => `\`${name}\``).join(', ')}` : undefined;
      const bodyText = body ? `body \`${body}\`` : undefined;
      const queryText = query ? `query \`?${query}\`` : undefined;
      const request = [pathText, bodyText, queryText].filter((part) => part !== undefined).join(', ') || 'none';
      const [successStatus, success] = Object.entries(operation.responses).find(([status]) => status.startsWith('2')) ?? [];
      const successSchema = success && 'content' in success ? referenceName(success.content?.['application/json']?.schema) : undefined;
      const others = Object.keys(operation.responses).filter((status) => !status.startsWith('2'));
      const calls = procedureNames.filter(
        (name) => operation.description?.includes(`(${name})`) || operation.description?.includes(` (${name}`),
      );
      lines.push(
        `| \`${method.toUpperCase()} ${path}\` | ${operation.security ? 'signed in' : 'public'} | ${request} | ${successStatus} ${
          successSchema ? `\`${successSchema}\`` : ''
        } | ${others.join(', ')} | ${calls.map((c) => `\`${c}\``).join(', ') || '-'} |`,
      );
    }
  }
  return lines;
}

/** The browser routes, from the document: their query parameters and answers (redirects and HTML pages). */
function browserSection(document: OpenApiDocument): string[] {
  const lines = ['| route | query | answers |', '| --- | --- | --- |'];
  for (const [path, item] of Object.entries(document.paths)) {
    if (!isBrowserRoute(path)) continue;
    for (const [method, operation] of Object.entries(item) as [string, Operation][]) {
      const query = (operation.parameters ?? [])
        .filter((p) => p.in === 'query')
        .map((p) => `\`${p.name}${p.required ? '' : '?'}\``)
        .join(', ');
      const answers = Object.entries(operation.responses)
        .map(([status, response]) => `${status}${'description' in response ? `: ${response.description}` : ''}`)
        .join('; ');
      lines.push(`| \`${method.toUpperCase()} ${path}\` | ${query || 'none'} | ${answers.replaceAll('|', '\\|')} |`);
    }
  }
  return lines;
}

function schemasSection(document: OpenApiDocument): string[] {
  return Object.entries(document.components.schemas).map(([name, schema]) => `- \`${name}\`: ${code(shape(schema))}`);
}

/** appCodes that no procedure or route sends: the tRPC transport's own, with the HTTP status it answers. */
const TRANSPORT_CODES: Partial<Record<AppCode, string>> = { BATCH_TOO_LARGE: '- (a tRPC batch over `MAX_BATCH_SIZE`: HTTP 400)' };

function appCodesSection(): string[] {
  const lines = ['| appCode | tRPC code | REST status | message |', '| --- | --- | --- | --- |'];
  for (const [appCode, kind] of Object.entries(APP_CODES) as [AppCode, string][]) {
    lines.push(`| \`${appCode}\` | \`${kind}\` | ${TRANSPORT_CODES[appCode] ?? restStatus(appCode)} | ${APP_CODE_MESSAGES[appCode]} |`);
  }
  return lines;
}

/** Markdown as the repository's formatter (Biome, `pnpm format`) writes it: tables aligned. */
function formatted(markdown: string): string {
  const biome = spawnSync(join(ROOT, 'node_modules', '.bin', 'biome'), ['format', '--stdin-file-path=docs/api.md'], {
    cwd: ROOT,
    input: markdown,
    encoding: 'utf8',
  });
  if (biome.status !== 0) throw new Error(`biome could not format docs/api.md: ${biome.stderr}`);
  return biome.stdout;
}

/** docs/api.md as it should be committed. */
export function renderApiDoc(): string {
  return formatted(unformattedApiDoc());
}

function unformattedApiDoc(): string {
  const document = buildOpenApiDocument(restRoutes, { serverUrl: 'http://localhost:3000' });
  return `${[
    '# API reference',
    '',
    '<!-- Generated by `pnpm --filter @latchkey/server docs:api` (apps/server/scripts/api-doc.ts); do not edit by hand. -->',
    '',
    'Every tRPC procedure and REST route the server answers, with its input, output and appCodes. This page is generated from',
    'the router, the REST route table, the OpenAPI document (`GET /openapi.json`) and the appCode catalogue of',
    '`@latchkey/protocol`; `apps/server/test/api-doc.test.ts` fails when it differs from what they say. After changing a',
    'procedure or a route, run `pnpm --filter @latchkey/server docs:api` and commit the result.',
    '',
    '## tRPC procedures',
    '',
    'At `/trpc/<procedure>` (and `/api/trpc/<procedure>`). A mutation is a `POST` with `{"json": input}` (superjson); a query',
    'is a `GET` (`?input=` when it takes one). A signed-in procedure takes `Authorization: Bearer <access token>` (or',
    "`Token <access token>`). An error carries `data.appCode` beside tRPC's `code`; `VALIDATION_FAILED` comes with",
    '`data.fields` (messages per field), `RATE_LIMITED` with `data.retryAfter` (seconds).',
    '',
    'Inputs are shown as the schemas accept them. The rules beyond their types: an email is trimmed and matched',
    'case-insensitively; a username has 3 to 50 letters, digits, `.`, `_` or `-`; a new password has 8 to 256 characters after',
    'NFKC and is not one of the common passwords ([security.md](security.md)); every string is refused above a bound, before',
    'any work.',
    '',
    ...proceduresSection(),
    '',
    'Outputs:',
    '',
    ...typesSection(),
    '',
    '## REST routes',
    '',
    'Under `/api`, JSON in snake_case ([rest.md](rest.md)). Errors are `{ "errors": { "<field>": ["<message>"] }, "code":',
    '"<appCode>" }`, with the status of the appCode below; 400 (not JSON), 413 (over 1 MB) and 415 (not',
    '`application/json`; a POST without a body included) come before any other check. A route answers the appCodes of the',
    'procedure it calls, except that a wrong password or code, or a passkey that does not verify, on a signed-in route',
    '(`current_password` of `PUT /api/user`, `POST /api/auth/reauthenticate`, `POST /api/user/mfa/totp/confirm`, `POST',
    '/api/user/passkeys`) is 422, not 401 (the session is fine), and an unknown, used or expired code at `POST',
    '/api/users/login/exchange` is 401 `TOKEN_INVALID`, not 404 (the code is a credential: sign in again).',
    '',
    ...restSection(document),
    '',
    'Schemas (as in `/openapi.json`):',
    '',
    ...schemasSection(document),
    '',
    '## Browser routes',
    '',
    'External sign-in (OpenID Connect providers, GitHub) runs in the browser: these are top-level navigations, answered with',
    'redirects (or a short HTML page when there is nowhere allowed to send the browser back), never JSON, and documented in',
    '`/openapi.json` too. The app sends the browser to `start` with a `redirect_to` allowed by `ALLOWED_REDIRECTS`; the',
    "provider sends it to `callback` (register `<BASE_URL>/auth/oidc/{provider}/callback` as the client's redirect URI); the",
    'callback sends it back to `redirect_to` with `#code=<one-time code>`, which the page exchanges with `auth.exchangeCode`',
    '(or `POST /api/users/login/exchange`) within 60 seconds, or with `#error=<appCode>`: `OIDC_STATE_INVALID`,',
    '`OIDC_RESPONSE_INVALID`, `PROVIDER_UNAVAILABLE`, `IDENTITY_LINK_REQUIRED`, `IDENTITY_IN_USE`, `ACCOUNT_DISABLED`. No token',
    'is ever in a URL: the code travels in the fragment, which browsers send to no server. A link flow',
    '(`auth.identities.linkStart`) goes through the same two routes, `start` opened with its `link` ticket.',
    '',
    ...browserSection(document),
    '',
    '## appCodes',
    '',
    'The whole catalogue (`APP_CODES` in `packages/protocol`). Clients branch on these, never on messages.',
    '',
    ...appCodesSection(),
  ].join('\n')}\n`;
}

const invokedAs = process.argv[1] ?? '';
if (invokedAs.endsWith('api-doc.ts') || invokedAs.endsWith('api-doc.js')) {
  const generated = renderApiDoc();
  if (process.argv.includes('--check')) {
    let committed = '';
    try {
      committed = readFileSync(API_DOC_PATH, 'utf8');
    } catch {
      // no file yet: it differs
    }
    if (committed !== generated) {
      process.stderr.write('docs/api.md is out of date: run `pnpm --filter @latchkey/server docs:api`\n');
      process.exit(1);
    }
  } else {
    writeFileSync(API_DOC_PATH, generated);
    process.stdout.write(`wrote ${API_DOC_PATH}\n`);
  }
}
