import type { ColumnType, Insertable, Selectable, Updateable } from 'kysely';

type Timestamp = ColumnType<Date, Date, Date>;

export interface UsersTable {
  id: string;
  email: string;
  username: string;
  password_hash: string;
  bio: string | null;
  image: string | null;
  email_verified_at: Timestamp | null;
  created_at: Timestamp;
  updated_at: Timestamp;
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

export interface Database {
  users: UsersTable;
  sessions: SessionsTable;
  rate_limits: RateLimitsTable;
  login_failures: LoginFailuresTable;
}

export type UserRow = Selectable<UsersTable>;
export type NewUserRow = Insertable<UsersTable>;
export type UserUpdate = Updateable<UsersTable>;
export type SessionRow = Selectable<SessionsTable>;
export type NewSessionRow = Insertable<SessionsTable>;
