import { sql } from 'kysely';
import { Migrator, NO_MIGRATIONS } from 'kysely/migration';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase, type DatabaseHandle, migrateToLatest } from '../src/db/database.js';
import { migrations } from '../src/db/migrations/index.js';
import { emptyTestDatabase, onPostgres, type TestDatabase } from './helpers/database.js';

let database: TestDatabase;
beforeAll(async () => {
  database = await emptyTestDatabase();
});
afterAll(async () => {
  await database?.close();
});

async function tables(handle: DatabaseHandle): Promise<string[]> {
  const result = await sql<{ table_name: string }>`
    select table_name from information_schema.tables
    where table_schema = current_schema() and table_type = 'BASE TABLE' order by table_name`.execute(handle.db);
  return result.rows.map((r) => r.table_name);
}

describe('migrations', () => {
  it('several instances migrating one empty database at once leave one correct schema', async () => {
    // On PostgreSQL each "instance" has a pool of its own, as separate processes would.
    const instances =
      onPostgres && database.url
        ? await Promise.all(Array.from({ length: 4 }, () => createDatabase({ kind: 'postgres', url: database.url as string })))
        : [database, database, database, database];
    try {
      const applied = await Promise.all(instances.map((instance) => migrateToLatest(instance.db)));
      expect(applied.flat()).toEqual(Object.keys(migrations));
    } finally {
      if (onPostgres) await Promise.all(instances.map((instance) => instance.close()));
    }
    expect(await tables(database)).toEqual([
      'email_tokens',
      'identities',
      'kysely_migration',
      'kysely_migration_lock',
      'login_failures',
      'mail_outbox',
      'mfa_challenges',
      'mfa_factors',
      'mfa_recovery_codes',
      'mfa_recovery_keys',
      'oidc_codes',
      'oidc_flows',
      'passkey_challenges',
      'passkeys',
      'rate_limits',
      'security_events',
      'sessions',
      'users',
    ]);
    const recorded = await sql<{ name: string }>`select name from kysely_migration`.execute(database.db);
    expect(recorded.rows.map((r) => r.name)).toEqual(Object.keys(migrations));
    expect(await migrateToLatest(database.db)).toEqual([]);
  });

  it('every migration can be undone and redone', async () => {
    const { rows } = await sql<{ schema: string }>`select current_schema() as schema`.execute(database.db);
    const migrator = new Migrator({
      db: database.db,
      provider: { getMigrations: async () => migrations },
      migrationTableSchema: rows[0]?.schema,
    });
    const down = await migrator.migrateTo(NO_MIGRATIONS);
    expect(down.error).toBeUndefined();
    expect(await tables(database)).toEqual(['kysely_migration', 'kysely_migration_lock']);
    expect(await migrateToLatest(database.db)).toEqual(Object.keys(migrations));
  });

  it('enforces email uniqueness case-insensitively in the schema itself', async () => {
    const now = new Date();
    const row = (id: string, email: string, username: string) => ({
      id,
      email,
      username,
      password_hash: 'x',
      created_at: now,
      updated_at: now,
    });
    await database.db
      .insertInto('users')
      .values(row('00000000-0000-4000-8000-000000000001', 'Case@Example.com', 'case1'))
      .execute();
    await expect(
      database.db
        .insertInto('users')
        .values(row('00000000-0000-4000-8000-000000000002', 'case@example.COM', 'case2'))
        .execute(),
    ).rejects.toMatchObject({ code: '23505' });
  });
});
