/**
 * The closed catalogue of security events: every type the log may hold, with what its `details`
 * carry. A later feature adds its types here. Details never hold a secret, a token, a code or a
 * password, and never an address a request typed for an account it did not name (an unknown
 * email may be a password typed in the wrong field).
 */

export type RevokedSessionReason = 'logout' | 'revoked';
export type LoginFailure =
  | 'unknown_email'
  | 'bad_password'
  | 'throttled'
  | 'disabled'
  // A passkey's assertion that did not verify (the account is the credential's owner, when known).
  | 'passkey_invalid'
  // External sign-in (the callback of a provider):
  | 'state_mismatch'
  | 'nonce_mismatch'
  | 'id_token_invalid'
  | 'link_required'
  | 'email_unverified'
  | 'email_unusable'
  | 'provider_error'
  | 'provider_unavailable';
export type Role = 'user' | 'admin';

/** What each type's `details` hold. */
export interface SecurityEventDetails {
  'user.registered': Record<string, never>;
  /** The methods the login proved (RFC 8176). */
  'login.succeeded': { methods: string[]; provider?: string };
  'login.failed': { reason: LoginFailure; provider?: string };
  /** The event's session is the one whose old refresh token came back; every session it names was revoked. */
  'session.reuse_detected': { revokedSessionIds: string[] };
  'session.revoked': { reason: RevokedSessionReason };
  'sessions.revoked_all': { count: number };
  'password.changed': { sessionsRevoked: number };
  'password.reset_requested': Record<string, never>;
  'password.reset': { sessionsRevoked: number };
  'email.change_requested': { newEmail: string };
  'email.changed': { from: string; to: string };
  'email.verified': { email: string };
  reauthenticated: { methods: string[] };
  'user.disabled': { reason: string; sessionsRevoked: number };
  'user.enabled': Record<string, never>;
  'admin.sessions_revoked': { count: number };
  'admin.role_changed': { from: Role; to: Role };
  'mfa.enrolled': { factorId: string; factorType: string };
  'mfa.removed': { factorId: string; factorType: string };
  'mfa.failed': { during: 'login' | 'reauthentication' | 'enrollment' };
  'mfa.recovery_code_used': { remaining: number };
  'mfa.recovery_codes_regenerated': { count: number };
  'passkey.added': { passkeyId: string; aaguid: string; deviceType: string };
  'passkey.removed': { passkeyId: string };
  /** What the passkey proved: a sign-in on its own, a second factor after the password, or a re-authentication. */
  'passkey.used': { passkeyId: string; as: 'sign_in' | 'second_factor' | 'reauthentication' };
  /** A signature count that did not go up: the key may have been copied. The assertion was refused. */
  'passkey.clone_suspected': { passkeyId: string; storedCounter: number; presentedCounter: number };
  /** How: at its owner's request (signed in), by a verified email both sides proved, or with the account it created. */
  'identity.linked': { identityId: string; provider: string; how: 'linked by its owner' | 'verified email' | 'new account' };
  'identity.unlinked': { identityId: string; provider: string };
}

export type SecurityEventType = keyof SecurityEventDetails;

/** Every type, with what it means (docs/security.md lists them from here). */
export const SECURITY_EVENT_TYPES = {
  'user.registered': 'An account was created',
  'login.succeeded': 'A login started a session',
  'login.failed': 'A login was refused',
  'session.reuse_detected': 'A rotated refresh token came back: the session was revoked',
  'session.revoked': 'A session was ended (logout, or revoked from the sessions list)',
  'sessions.revoked_all': 'Every session of the user was ended (logout everywhere)',
  'password.changed': 'The password was changed by its owner',
  'password.reset_requested': 'A password-reset mail was sent',
  'password.reset': 'The password was set with a reset link',
  'email.change_requested': 'A change of the sign-in address was asked for',
  'email.changed': 'The sign-in address changed (both confirmations used)',
  'email.verified': 'An address was proven with a verification link',
  reauthenticated: 'The user proved who they are again in a session',
  'user.disabled': 'An admin disabled the account',
  'user.enabled': 'An admin enabled the account again',
  'admin.sessions_revoked': "An admin ended the user's sessions",
  'admin.role_changed': "The user's role changed",
  'mfa.enrolled': 'An authenticator app was set up as a second factor',
  'mfa.removed': 'A second factor was removed',
  'mfa.failed': 'A wrong second-factor code was given (at sign-in, re-authentication or set-up)',
  'mfa.recovery_code_used': 'A recovery code was used (each works once)',
  'mfa.recovery_codes_regenerated': 'The recovery codes were replaced by new ones',
  'passkey.added': 'A passkey was registered to the account',
  'passkey.removed': 'A passkey was removed from the account',
  'passkey.used': 'A passkey signed in, confirmed a sign-in or re-authenticated',
  'passkey.clone_suspected': "A passkey's signature count went backwards: the assertion was refused",
  'identity.linked': 'An external identity (OpenID Connect, GitHub) was linked to the account',
  'identity.unlinked': 'An external identity was unlinked from the account',
} as const satisfies Record<SecurityEventType, string>;

export const EVENT_TYPE_NAMES = Object.keys(SECURITY_EVENT_TYPES) as [SecurityEventType, ...SecurityEventType[]];

export type ActorKind = 'user' | 'admin' | 'system';

/** Where a request came from, as the HTTP layer saw it. */
export interface EventClient {
  ip: string | undefined;
  userAgent: string | undefined;
  requestId?: string | undefined;
}

/** One event to record. The actor defaults to the user themself. */
export type SecurityEvent = {
  [T in SecurityEventType]: {
    type: T;
    userId: string | null;
    actor?: { kind: ActorKind; id: string | null };
    sessionId?: string | null | undefined;
    client?: EventClient | undefined;
  } & (SecurityEventDetails[T] extends Record<string, never> ? { details?: undefined } : { details: SecurityEventDetails[T] });
}[SecurityEventType];
