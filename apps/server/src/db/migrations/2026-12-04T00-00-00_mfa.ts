import { type Kysely, sql } from 'kysely';

// Frozen in time: this file must never import application code.
// Second factors: TOTP factors (their secret sealed with a server key, the last time step used),
// recovery codes (keyed digests, single use) and the pending sign-ins that wait for a code.
// biome-ignore lint/suspicious/noExplicitAny: migrations describe the schema of their own day
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('mfa_factors')
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    .addColumn('user_id', 'uuid', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    // AES-256-GCM under a key derived from JWT_SECRET, bound to the row (lib/secret-box.ts).
    .addColumn('secret_sealed', 'text', (c) => c.notNull())
    // The last RFC 6238 time step accepted: a code of this step or an earlier one never passes again.
    .addColumn('last_used_step', 'bigint', (c) => c.notNull().defaultTo(-1))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull())
    .addColumn('confirmed_at', 'timestamptz')
    .addColumn('last_used_at', 'timestamptz')
    .addCheckConstraint('mfa_factors_type_check', sql`type in ('totp')`)
    .addCheckConstraint('mfa_factors_status_check', sql`status in ('pending', 'active')`)
    .execute();
  // One authenticator app per account: active or being set up.
  await db.schema.createIndex('mfa_factors_user_type_idx').on('mfa_factors').columns(['user_id', 'type']).unique().execute();

  // Each account's recovery codes are MAC'd with a random key of its own, sealed like the TOTP
  // secrets: a rotation of JWT_SECRET seals the key again, and the codes survive it.
  await db.schema
    .createTable('mfa_recovery_keys')
    .addColumn('user_id', 'uuid', (c) => c.primaryKey().references('users.id').onDelete('cascade'))
    .addColumn('key_sealed', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('mfa_recovery_codes')
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    .addColumn('user_id', 'uuid', (c) => c.notNull().references('users.id').onDelete('cascade'))
    // HMAC-SHA256 under the account's sealed recovery key: the tables alone yield no code.
    .addColumn('code_digest', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull())
    .addColumn('used_at', 'timestamptz')
    .execute();
  await db.schema
    .createIndex('mfa_recovery_codes_user_digest_idx')
    .on('mfa_recovery_codes')
    .columns(['user_id', 'code_digest'])
    .unique()
    .execute();

  await db.schema
    .createTable('mfa_challenges')
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    .addColumn('user_id', 'uuid', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('token_digest', 'text', (c) => c.notNull().unique())
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    // The login's throttle counts, given back only when the second factor succeeds.
    .addColumn('login', 'jsonb', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull())
    .addColumn('expires_at', 'timestamptz', (c) => c.notNull())
    .addColumn('used_at', 'timestamptz')
    .execute();
  await db.schema.createIndex('mfa_challenges_user_id_idx').on('mfa_challenges').column('user_id').execute();
  await db.schema.createIndex('mfa_challenges_expires_at_idx').on('mfa_challenges').column('expires_at').execute();
}

// biome-ignore lint/suspicious/noExplicitAny: migrations describe the schema of their own day
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('mfa_challenges').execute();
  await db.schema.dropTable('mfa_recovery_codes').execute();
  await db.schema.dropTable('mfa_recovery_keys').execute();
  await db.schema.dropTable('mfa_factors').execute();
}
