import { type Kysely, sql } from 'kysely';

// Frozen in time: this file must never import application code.
// Passkeys (WebAuthn): the credentials, the random user handle each account shows authenticators
// (never its email or id), and the single-use challenges of the ceremonies. An account may now
// have no password (its way in is a passkey, later an external identity).
// biome-ignore lint/suspicious/noExplicitAny: migrations describe the schema of their own day
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('users')
    .alterColumn('password_hash', (c) => c.dropNotNull())
    .execute();
  // 32 random bytes (base64url), made with the account's first registration options.
  await db.schema.alterTable('users').addColumn('passkey_user_handle', 'text').execute();
  await db.schema.createIndex('users_passkey_user_handle_idx').on('users').column('passkey_user_handle').unique().execute();

  await db.schema
    .createTable('passkeys')
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    .addColumn('user_id', 'uuid', (c) => c.notNull().references('users.id').onDelete('cascade'))
    // The credential id (base64url), unique across every account: one authenticator key, one owner.
    .addColumn('credential_id', 'text', (c) => c.notNull().unique())
    // The COSE public key (base64url): public by nature, stored as is.
    .addColumn('public_key', 'text', (c) => c.notNull())
    .addColumn('counter', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('transports', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('aaguid', 'text', (c) => c.notNull())
    // Backup eligibility never changes for a credential; the backup state may.
    .addColumn('backup_eligible', 'boolean', (c) => c.notNull())
    .addColumn('backed_up', 'boolean', (c) => c.notNull())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull())
    .addColumn('last_used_at', 'timestamptz')
    .execute();
  await db.schema.createIndex('passkeys_user_id_idx').on('passkeys').column('user_id').execute();

  await db.schema
    .createTable('passkey_challenges')
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    // SHA-256 of the 32 random bytes sent to the browser: the table alone answers no ceremony.
    .addColumn('challenge_digest', 'text', (c) => c.notNull().unique())
    .addColumn('purpose', 'text', (c) => c.notNull())
    // Who must answer it: the signed-in user, the pending sign-in's, the email's (no foreign key:
    // an unknown email is bound to an id no account has, so that it fails like a wrong key).
    .addColumn('user_id', 'uuid')
    .addColumn('mfa_challenge_id', 'uuid')
    .addColumn('session_id', 'uuid')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull())
    .addColumn('expires_at', 'timestamptz', (c) => c.notNull())
    .addColumn('used_at', 'timestamptz')
    .addCheckConstraint(
      'passkey_challenges_purpose_check',
      sql`purpose in ('registration', 'sign_in', 'second_factor', 'reauthentication')`,
    )
    .execute();
  await db.schema.createIndex('passkey_challenges_expires_at_idx').on('passkey_challenges').column('expires_at').execute();
}

// biome-ignore lint/suspicious/noExplicitAny: migrations describe the schema of their own day
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('passkey_challenges').execute();
  await db.schema.dropTable('passkeys').execute();
  await db.schema.dropIndex('users_passkey_user_handle_idx').execute();
  await db.schema.alterTable('users').dropColumn('passkey_user_handle').execute();
  await db.deleteFrom('users').where('password_hash', 'is', null).execute();
  await db.schema
    .alterTable('users')
    .alterColumn('password_hash', (c) => c.setNotNull())
    .execute();
}
