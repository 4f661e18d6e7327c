import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ShiftedClock } from '../src/lib/clock.js';
import { createLogger } from '../src/lib/logger.js';
import { announceRevoked, createRevocations } from '../src/modules/session/revocations.js';
import { until } from '../src/testing.js';
import { newUser, type TestApp, testApp } from './helpers/app.js';
import { migratedTestDatabase, onPostgres, TEST_DATABASE, type TestDatabase } from './helpers/database.js';

let database: TestDatabase;
let app: TestApp;

beforeAll(async () => {
  database = await migratedTestDatabase();
  app = await testApp(database);
});
afterAll(async () => {
  await app?.close();
  await database?.close();
});

/** Revokes a session the way another instance would: the row, and the NOTIFY in the same transaction. */
async function revokeElsewhere(sessionId: string) {
  await database.db.transaction().execute(async (trx) => {
    await trx.updateTable('sessions').set({ revoked_at: new Date(), revoked_reason: 'logout' }).where('id', '=', sessionId).execute();
    await announceRevoked(trx, [sessionId]);
  });
}

async function sessionIdOf(userId: string): Promise<string> {
  const row = await database.db.selectFrom('sessions').select('id').where('user_id', '=', userId).executeTakeFirstOrThrow();
  return row.id;
}

describe.runIf(onPostgres)('revocations across instances (PostgreSQL)', () => {
  const listen = (heartbeatMs?: number) =>
    createRevocations({
      db: database.db,
      clock: new ShiftedClock(),
      logger: createLogger('silent'),
      retainSeconds: 960,
      postgresUrl: database.url,
      heartbeatMs,
    });

  it("learns another instance's revocation within a second", async () => {
    const revocations = listen();
    try {
      expect(await revocations.ready()).toBe(true);
      const session = await app.caller().auth.register(newUser());
      const id = await sessionIdOf(session.user.id);
      expect(revocations.isRevoked(id)).toBe(false);
      await revokeElsewhere(id);
      await until(() => revocations.isRevoked(id), 1_000);
    } finally {
      await revocations.close();
    }
  });

  it('a revocation of hundreds of sessions at once reaches the other instances whole (NOTIFY payloads are chunked)', async () => {
    const revocations = listen();
    try {
      expect(await revocations.ready()).toBe(true);
      const ids = Array.from({ length: 450 }, () => randomUUID());
      await database.db.transaction().execute(async (trx) => {
        await announceRevoked(trx, ids);
      });
      await until(() => ids.every((id) => revocations.isRevoked(id)), 1_000);
    } finally {
      await revocations.close();
    }
  });

  it('when its connection is cut it distrusts its list, reconnects, and reloads what was revoked meanwhile', async () => {
    const revocations = listen();
    const admin = new pg.Client({ connectionString: TEST_DATABASE });
    await admin.connect();
    try {
      expect(await revocations.ready()).toBe(true);
      const session = await app.caller().auth.register(newUser());
      const id = await sessionIdOf(session.user.id);
      const killed = await admin.query('select pg_terminate_backend(pid) from pg_stat_activity where application_name = $1', [
        revocations.listenerName,
      ]);
      expect(killed.rowCount).toBe(1);
      await until(() => !revocations.trusted, 2_000);
      // Revoked while nobody listens: the notification is lost, the row is not.
      await revokeElsewhere(id);
      expect(await revocations.ready(5_000)).toBe(true);
      expect(revocations.isRevoked(id)).toBe(true);
      const listeners = await admin.query('select count(*)::int as n from pg_stat_activity where application_name = $1', [
        revocations.listenerName,
      ]);
      expect(listeners.rows[0]).toEqual({ n: 1 });
    } finally {
      await admin.end();
      await revocations.close();
    }
  });

  it('a listener that stops hearing its own heartbeat is no longer trusted, and a session revoked meanwhile is refused', async () => {
    const revocations = listen(200);
    const fallback = await testApp(database);
    const { createApp } = await import('../src/app.js');
    const instance = await createApp(fallback.config, { database, clock: fallback.clock, revocations });
    try {
      expect(await revocations.ready()).toBe(true);
      const session = await fallback.caller().auth.register(newUser());
      const id = await sessionIdOf(session.user.id);
      await expect(instance.services.sessions.authenticate(`Bearer ${session.accessToken}`)).resolves.toMatchObject({ sessionId: id });
      // Deaf without an error or an end: the connection is up, but no longer hears the channel.
      await revocations.listenerConnection?.query('UNLISTEN *');
      await until(() => !revocations.trusted, 600);
      await revokeElsewhere(id);
      await new Promise((resolve) => setTimeout(resolve, 50));
      // The notification was lost on the deaf connection; the database still knows.
      expect(revocations.isRevoked(id)).toBe(false);
      await expect(instance.services.sessions.authenticate(`Bearer ${session.accessToken}`)).rejects.toMatchObject({
        appCode: 'SESSION_REVOKED',
      });
      // Still deaf: the connection is replaced, and the new one reloads what was revoked meanwhile.
      expect(await revocations.ready(5_000)).toBe(true);
      expect(revocations.isRevoked(id)).toBe(true);
    } finally {
      await instance.close();
      await fallback.close();
      await revocations.close();
    }
  });

  it('the server refuses to start, naming DATABASE_LISTEN_URL, when LISTEN there does not hear its NOTIFYs', async () => {
    const fallback = await testApp(database);
    const { createApp } = await import('../src/app.js');
    // Notifications do not cross databases: a LISTEN on another database never hears this one's NOTIFY,
    // as a LISTEN through a transaction-mode pooler does not.
    const elsewhere = new URL(TEST_DATABASE);
    elsewhere.pathname = elsewhere.pathname === '/template1' ? '/postgres' : '/template1';
    const config = { ...fallback.config, databaseListenUrl: elsewhere.toString() };
    const started = Date.now();
    try {
      await expect(createApp(config, { database, clock: fallback.clock })).rejects.toThrow(/DATABASE_LISTEN_URL/);
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      await fallback.close();
    }
  });

  it('while the list is not trusted, protected procedures ask the database', async () => {
    const revocations = listen();
    try {
      await revocations.close(); // closed: never trusted again, as if the database were unreachable for NOTIFY
      const fallback = await testApp(database);
      const session = await fallback.caller().auth.register(newUser());
      const id = await sessionIdOf(session.user.id);
      const { createApp } = await import('../src/app.js');
      const untrusted = await createApp(fallback.config, { database, clock: fallback.clock, revocations });
      const services = untrusted.services;
      await expect(services.sessions.authenticate(`Bearer ${session.accessToken}`)).resolves.toMatchObject({ sessionId: id });
      await database.db.updateTable('sessions').set({ revoked_at: new Date() }).where('id', '=', id).execute();
      await expect(services.sessions.authenticate(`Bearer ${session.accessToken}`)).rejects.toMatchObject({ appCode: 'SESSION_REVOKED' });
      await untrusted.close();
      await fallback.close();
    } finally {
      await revocations.close();
    }
  });
});

describe('revocations on one instance', () => {
  it('are known at once, without a notification, and forgotten once no access token can still be valid', async () => {
    const clock = new ShiftedClock();
    const revocations = createRevocations({ db: database.db, clock, logger: createLogger('silent'), retainSeconds: 60 });
    try {
      expect(revocations.trusted).toBe(true);
      const id = randomUUID();
      revocations.add([id]);
      expect(revocations.isRevoked(id)).toBe(true);
      clock.advance(61);
      expect(revocations.isRevoked(id)).toBe(false);
    } finally {
      await revocations.close();
    }
  });
});
