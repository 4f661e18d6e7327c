import type { UserRow } from '../../db/schema.js';

/** The public face of a user. Built field by field so that a new column never leaks by accident. */
export interface User {
  id: string;
  email: string;
  username: string;
  bio: string | null;
  image: string | null;
  emailVerified: boolean;
  /** An address the user asked to move to; the sign-in address stays `email` until both confirmations. */
  pendingEmail: string | null;
  createdAt: Date;
}

/** What userRowToUser reads: a query for a user's public face selects these and no more. */
export const PUBLIC_USER_COLUMNS = ['id', 'email', 'username', 'bio', 'image', 'email_verified_at', 'pending_email', 'created_at'] as const;
export type PublicUserRow = Pick<UserRow, (typeof PUBLIC_USER_COLUMNS)[number]>;

export function userRowToUser(row: PublicUserRow): User {
  return {
    id: row.id,
    email: row.email,
    username: row.username,
    bio: row.bio,
    image: row.image,
    emailVerified: row.email_verified_at !== null,
    pendingEmail: row.pending_email,
    createdAt: row.created_at,
  };
}
