/** SECURITY_EVENT_RETENTION (issue 16, item 7): the clean-up job deletes older events, in batches; nothing else does. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanUp } from '../src/jobs/cleanup.job.js';
import { deleteEventsBefore } from '../src/modules/audit/audit.service.js';
import { newUser, type TestApp, testApp } from './helpers/app.js';
import { migratedTestDatabase, type TestDatabase } from './helpers/database.js';
import { eventsOf } from './helpers/events.js';
import { failure } from './helpers/failure.js';

let database: TestDatabase;
let app: TestApp;

beforeAll(async () => {
  database = await migratedTestDatabase();
  app = await testApp(database, { env: { SECURITY_EVENT_RETENTION: '30d' } });
});
afterAll(async () => {
  await app?.close();
  await database?.close();
});

describe('security event retention', () => {
  it('the clean-up job deletes the events older than SECURITY_EVENT_RETENTION and keeps the younger ones', async () => {
    const input = newUser('retention');
    const { user } = await app.caller().auth.register(input);
    await failure(app.caller().auth.login({ email: input.email, password: 'not the passphrase, old' }));
    app.clock.advance(29 * 86_400);
    await failure(app.caller().auth.login({ email: input.email, password: 'not the passphrase, new' }));
    app.clock.advance(2 * 86_400);
    expect(app.config.securityEventRetentionSeconds).toBe(30 * 86_400);
    const [first, second] = await Promise.all([
      cleanUp(database.db, app.clock, app.config.securityEventRetentionSeconds),
      cleanUp(database.db, app.clock, app.config.securityEventRetentionSeconds),
    ]);
    expect((first?.securityEvents ?? 0) + (second?.securityEvents ?? 0)).toBeGreaterThanOrEqual(2);
    expect((await eventsOf(database.db, user.id)).map((e) => e.type)).toEqual(['login.failed']);
  });

  it('deletes in batches of the given size until none is left', async () => {
    for (let i = 0; i < 5; i++) await app.caller().auth.register(newUser('batch'));
    app.clock.advance(60);
    const cutoff = app.clock.now();
    await app.caller().auth.register(newUser('young'));
    const before = await database.db.selectFrom('security_events').select('id').where('created_at', '<', cutoff).execute();
    expect(before.length).toBeGreaterThanOrEqual(5);
    expect(await deleteEventsBefore(database.db, cutoff, 2)).toBe(before.length);
    expect(await database.db.selectFrom('security_events').select('id').where('created_at', '<', cutoff).execute()).toEqual([]);
    expect(await database.db.selectFrom('security_events').select('id').where('created_at', '>=', cutoff).execute()).toHaveLength(1);
  });
});
