import { type Kysely, sql } from 'kysely';

// Frozen in time: this file must never import application code.
// Re-authentication ("sudo mode"): a session remembers when and how its user last proved who they
// are. Email change is pending until both addresses confirm it.
// biome-ignore lint/suspicious/noExplicitAny: migrations describe the schema of their own day
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('sessions').addColumn('auth_time', 'timestamptz').execute();
  // RFC 8176 authentication method references, space-separated (e.g. "pwd", "pwd otp mfa").
  await db.schema
    .alterTable('sessions')
    .addColumn('auth_methods', 'text', (c) => c.notNull().defaultTo('pwd'))
    .execute();
  await sql`update sessions set auth_time = created_at`.execute(db);
  await db.schema
    .alterTable('sessions')
    .alterColumn('auth_time', (c) => c.setNotNull())
    .execute();

  await db.schema.alterTable('users').addColumn('pending_email', 'text').execute();
  await db.schema.alterTable('users').addColumn('pending_email_new_confirmed_at', 'timestamptz').execute();
  await db.schema.alterTable('users').addColumn('pending_email_current_confirmed_at', 'timestamptz').execute();
}

// biome-ignore lint/suspicious/noExplicitAny: migrations describe the schema of their own day
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('users').dropColumn('pending_email_current_confirmed_at').execute();
  await db.schema.alterTable('users').dropColumn('pending_email_new_confirmed_at').execute();
  await db.schema.alterTable('users').dropColumn('pending_email').execute();
  await db.schema.alterTable('sessions').dropColumn('auth_methods').execute();
  await db.schema.alterTable('sessions').dropColumn('auth_time').execute();
}
