import { type Kysely, sql } from 'kysely';

// Frozen in time: this file must never import application code.
// The security event log (append-only: rows are inserted with the change they record and deleted
// only by retention), and the roles and disabling of accounts.
// biome-ignore lint/suspicious/noExplicitAny: migrations describe the schema of their own day
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('security_events')
    // Insertion order is the keyset of every listing: newest first is highest id first.
    .addColumn('id', 'bigint', (c) => c.primaryKey().generatedAlwaysAsIdentity())
    // No foreign keys: the log outlives what it names, and writing it takes no lock on a user.
    .addColumn('user_id', 'uuid')
    .addColumn('actor_id', 'uuid')
    .addColumn('actor_kind', 'text', (c) => c.notNull())
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('ip', 'text')
    .addColumn('user_agent', 'text')
    .addColumn('session_id', 'uuid')
    .addColumn('request_id', 'text')
    .addColumn('details', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull())
    .addCheckConstraint('security_events_actor_kind_check', sql`actor_kind in ('user', 'admin', 'system')`)
    .execute();
  await db.schema.createIndex('security_events_user_id_idx').on('security_events').columns(['user_id', 'id']).execute();
  await db.schema.createIndex('security_events_type_idx').on('security_events').columns(['type', 'id']).execute();
  await db.schema.createIndex('security_events_created_at_idx').on('security_events').column('created_at').execute();

  await db.schema
    .alterTable('users')
    .addColumn('role', 'text', (c) => c.notNull().defaultTo('user'))
    .execute();
  await db.schema.alterTable('users').addCheckConstraint('users_role_check', sql`role in ('user', 'admin')`).execute();
  await db.schema.alterTable('users').addColumn('disabled_at', 'timestamptz').execute();
}

// biome-ignore lint/suspicious/noExplicitAny: migrations describe the schema of their own day
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('users').dropColumn('disabled_at').execute();
  await db.schema.alterTable('users').dropConstraint('users_role_check').execute();
  await db.schema.alterTable('users').dropColumn('role').execute();
  await db.schema.dropTable('security_events').execute();
}
