import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migratedTestDatabase, onPostgres, type TestDatabase } from './helpers/database.js';

let database: TestDatabase;
beforeAll(async () => {
  database = await migratedTestDatabase();
});
afterAll(async () => {
  await database?.close();
});

describe.runIf(onPostgres)('the relaxed pool', () => {
  it('commits throttle counters without waiting for the WAL flush, in the same schema; everything else waits', async () => {
    const setting = async (db: TestDatabase['db']) =>
      (
        await sql<{
          value: string;
          schema: string;
        }>`select current_setting('synchronous_commit') as value, current_schema() as schema`.execute(db)
      ).rows[0];
    const [strict, relaxed] = [await setting(database.db), await setting(database.relaxed)];
    expect(strict?.value).toBe('on');
    expect(relaxed?.value).toBe('off');
    expect(relaxed?.schema).toBe(strict?.schema);
  });
});
