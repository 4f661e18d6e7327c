import type { Kysely } from 'kysely';

// Frozen in time: this file must never import application code.
// biome-ignore lint/suspicious/noExplicitAny: migrations describe the schema of their own day
export async function up(db: Kysely<any>): Promise<void> {
  // Fixed-window counters (attempts per client address, per account...), shared by every instance.
  await db.schema
    .createTable('rate_limits')
    .addColumn('key', 'text', (c) => c.primaryKey())
    .addColumn('count', 'integer', (c) => c.notNull())
    .addColumn('window_started_at', 'timestamptz', (c) => c.notNull())
    .addColumn('expires_at', 'timestamptz', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('rate_limits_expires_at_idx').on('rate_limits').column('expires_at').execute();

  // Consecutive failed logins of one account, for exponential back-off.
  await db.schema
    .createTable('login_failures')
    .addColumn('key', 'text', (c) => c.primaryKey())
    .addColumn('failures', 'integer', (c) => c.notNull())
    .addColumn('last_failed_at', 'timestamptz', (c) => c.notNull())
    .execute();

  // Revoked sessions are read back by time when an instance resynchronises its revocation list.
  await db.schema.createIndex('sessions_revoked_at_idx').on('sessions').column('revoked_at').execute();
}

// biome-ignore lint/suspicious/noExplicitAny: migrations describe the schema of their own day
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('sessions_revoked_at_idx').execute();
  await db.schema.dropTable('login_failures').execute();
  await db.schema.dropTable('rate_limits').execute();
}
