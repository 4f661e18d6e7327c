import type { ColumnType, Insertable, Selectable, Updateable } from 'kysely';

type Timestamp = ColumnType<Date, Date, Date>;

export interface UsersTable {
  id: string;
  email: string;
  username: string;
  /** Null for an account whose way in is a passkey (or, later, an external identity) alone. */
  password_hash: string | null;
  bio: string | null;
  image: string | null;
  email_verified_at: Timestamp | null;
  created_at: Timestamp;
  updated_at: Timestamp;
  /** An address the user asked to move to; the sign-in address stays `email` until both links are used. */
  pending_email: ColumnType<string | null, string | null | undefined, string | null>;
  /** When the link mailed to `pending_email` was used. */
  pending_email_new_confirmed_at: ColumnType<Date | null, Date | null | undefined, Date | null>;
  /** When the link mailed to the current address was used (set at once when that address is unverified). */
  pending_email_current_confirmed_at: ColumnType<Date | null, Date | null | undefined, Date | null>;
  role: ColumnType<'user' | 'admin', 'user' | 'admin' | undefined, 'user' | 'admin'>;
  /** Set while the account is disabled: no login, no refresh, no session. */
  disabled_at: ColumnType<Date | null, Date | null | undefined, Date | null>;
  /** The random handle authenticators know the account by (base64url), made with its first passkey options. */
  passkey_user_handle: ColumnType<string | null, string | null | undefined, string | null>;
}

export interface SessionsTable {
  id: string;
  user_id: string;
  /** The rotation counter: the live refresh token is the one derived for this generation. */
  generation: number;
  /** When the generation was last advanced; the reuse grace window runs from here. */
  rotated_at: Timestamp | null;
  created_at: Timestamp;
  last_used_at: Timestamp;
  /** The earlier of idle expiry (last use + REFRESH_IDLE_TTL) and absolute_expires_at. */
  expires_at: Timestamp;
  absolute_expires_at: Timestamp;
  revoked_at: Timestamp | null;
  revoked_reason: string | null;
  user_agent: string | null;
  ip: string | null;
  /** The last proof of identity in this session (login, re-authentication); a refresh keeps it. */
  auth_time: Timestamp;
  /** RFC 8176 methods of that proof, space-separated ("pwd"). */
  auth_methods: ColumnType<string, string | undefined, string>;
}

export interface RateLimitsTable {
  key: string;
  count: number;
  window_started_at: Timestamp;
  expires_at: Timestamp;
}

export interface LoginFailuresTable {
  key: string;
  failures: number;
  last_failed_at: Timestamp;
}

export interface EmailTokensTable {
  id: string;
  user_id: string;
  purpose: 'verify_email' | 'reset_password' | 'email_change_new' | 'email_change_current';
  token_digest: string;
  email: string;
  created_at: Timestamp;
  expires_at: Timestamp;
  used_at: Timestamp | null;
}

export interface MailOutboxTable {
  id: string;
  kind: string;
  user_id: string | null;
  to_address: string;
  subject: string;
  text_body: string | null;
  html_body: string | null;
  created_at: Timestamp;
  attempts: ColumnType<number, number | undefined, number>;
  next_attempt_at: Timestamp;
  locked_until: Timestamp | null;
  sent_at: Timestamp | null;
  failed_at: Timestamp | null;
  last_error: string | null;
}

export interface SecurityEventsTable {
  /** bigint: a number from PostgreSQL (see database.ts), a bigint or number from PGlite; read with String(). */
  id: ColumnType<string | number | bigint, never, never>;
  user_id: string | null;
  actor_id: string | null;
  actor_kind: 'user' | 'admin' | 'system';
  type: string;
  ip: string | null;
  user_agent: string | null;
  session_id: string | null;
  request_id: string | null;
  details: ColumnType<Record<string, unknown>, string, never>;
  created_at: ColumnType<Date, Date, never>;
}

export interface MfaFactorsTable {
  id: string;
  user_id: string;
  type: 'totp';
  status: 'pending' | 'active';
  secret_sealed: string;
  /** bigint: read with Number() (time steps stay far below 2^53). */
  last_used_step: ColumnType<string | number | bigint, number | undefined, number>;
  created_at: Timestamp;
  confirmed_at: Timestamp | null;
  last_used_at: Timestamp | null;
}

export interface MfaRecoveryKeysTable {
  user_id: string;
  key_sealed: string;
  created_at: Timestamp;
}

export interface MfaRecoveryCodesTable {
  id: string;
  user_id: string;
  code_digest: string;
  created_at: Timestamp;
  used_at: Timestamp | null;
}

/** What a pending sign-in gives back to the throttle once its second factor succeeds. */
export interface MfaLoginCounts {
  /** The back-off counts the login took, with how each counts. */
  counts: Array<[string, 'backoff' | 'cap']>;
  /** The per-address failed-login count. */
  address: string;
  /** The account-wide count of consecutive failures. */
  account: string;
  /** The device of a valid device token the login carried. */
  deviceId: string | null;
}

export interface MfaChallengesTable {
  id: string;
  user_id: string;
  token_digest: string;
  attempts: ColumnType<number, number | undefined, number>;
  login: ColumnType<MfaLoginCounts, string, never>;
  /** The first factor the pending sign-in proved: the password, or an external identity. */
  first_factor: ColumnType<'pwd' | 'fed', 'pwd' | 'fed' | undefined, never>;
  created_at: Timestamp;
  expires_at: Timestamp;
  used_at: Timestamp | null;
}

export interface PasskeysTable {
  id: string;
  user_id: string;
  credential_id: string;
  public_key: string;
  /** bigint: read with Number() (sign counts are 32-bit). */
  counter: ColumnType<string | number | bigint, number, number>;
  /** Space-separated AuthenticatorTransport values. */
  transports: string;
  aaguid: string;
  backup_eligible: boolean;
  backed_up: boolean;
  name: string;
  created_at: Timestamp;
  last_used_at: Timestamp | null;
}

export type PasskeyPurpose = 'registration' | 'sign_in' | 'second_factor' | 'reauthentication';

export interface PasskeyChallengesTable {
  id: string;
  challenge_digest: string;
  purpose: PasskeyPurpose;
  user_id: string | null;
  mfa_challenge_id: string | null;
  session_id: string | null;
  created_at: Timestamp;
  expires_at: Timestamp;
  used_at: Timestamp | null;
}

export interface IdentitiesTable {
  id: string;
  user_id: string;
  provider: string;
  issuer: string;
  subject: string;
  email: string | null;
  email_verified: boolean;
  created_at: Timestamp;
  last_used_at: Timestamp | null;
}

export type OidcFlowPurpose = 'sign_in' | 'link';

export interface OidcFlowsTable {
  id: string;
  state_digest: string;
  browser_digest: string;
  link_ticket_digest: string | null;
  provider: string;
  purpose: OidcFlowPurpose;
  user_id: string | null;
  secrets_sealed: string;
  redirect_to: string;
  created_at: Timestamp;
  expires_at: Timestamp;
  used_at: Timestamp | null;
}

/** The identity a link flow's callback found, kept until the signed-in user confirms the link. */
export interface PendingIdentity {
  provider: string;
  issuer: string;
  subject: string;
  email: string | null;
  emailVerified: boolean;
}

export interface OidcCodesTable {
  id: string;
  code_digest: string;
  user_id: string;
  purpose: ColumnType<OidcFlowPurpose, OidcFlowPurpose, never>;
  identity_id: string | null;
  pending: ColumnType<PendingIdentity | null, string | null, never>;
  created_at: Timestamp;
  expires_at: Timestamp;
  used_at: Timestamp | null;
}

export interface Database {
  users: UsersTable;
  sessions: SessionsTable;
  rate_limits: RateLimitsTable;
  login_failures: LoginFailuresTable;
  email_tokens: EmailTokensTable;
  mail_outbox: MailOutboxTable;
  security_events: SecurityEventsTable;
  mfa_factors: MfaFactorsTable;
  mfa_recovery_keys: MfaRecoveryKeysTable;
  mfa_recovery_codes: MfaRecoveryCodesTable;
  mfa_challenges: MfaChallengesTable;
  passkeys: PasskeysTable;
  passkey_challenges: PasskeyChallengesTable;
  identities: IdentitiesTable;
  oidc_flows: OidcFlowsTable;
  oidc_codes: OidcCodesTable;
}

export type EmailTokenRow = Selectable<EmailTokensTable>;
export type MailRow = Selectable<MailOutboxTable>;
export type NewMailRow = Insertable<MailOutboxTable>;

export type UserRow = Selectable<UsersTable>;
export type NewUserRow = Insertable<UsersTable>;
export type UserUpdate = Updateable<UsersTable>;
export type SessionRow = Selectable<SessionsTable>;
export type NewSessionRow = Insertable<SessionsTable>;
export type SecurityEventRow = Selectable<SecurityEventsTable>;
export type NewSecurityEventRow = Insertable<SecurityEventsTable>;
export type MfaFactorRow = Selectable<MfaFactorsTable>;
export type MfaChallengeRow = Selectable<MfaChallengesTable>;
export type PasskeyRow = Selectable<PasskeysTable>;
export type IdentityRow = Selectable<IdentitiesTable>;
export type OidcFlowRow = Selectable<OidcFlowsTable>;
export type OidcCodeRow = Selectable<OidcCodesTable>;
export type PasskeyChallengeRow = Selectable<PasskeyChallengesTable>;
