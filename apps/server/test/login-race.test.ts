/**
 * A login that checked the old password must not outlive a password change that commits while it
 * runs (the change's "every other session ends" would otherwise miss it).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type App, createApp } from '../src/app.js';
import { ManualClock } from '../src/lib/clock.js';
import { createPasswordHasher, type PasswordHasher } from '../src/lib/password.js';
import { createCaller } from '../src/router.js';
import { newUser, testConfig } from './helpers/app.js';
import { migratedTestDatabase, type TestDatabase } from './helpers/database.js';
import { failure } from './helpers/failure.js';

let database: TestDatabase;
let app: App;
/** While set, a check of this password waits for `release` after it has verified. */
const gate: { password?: string; reached?: () => void; release?: Promise<void> } = {};

beforeAll(async () => {
  database = await migratedTestDatabase();
  const real = createPasswordHasher(4);
  const hasher: PasswordHasher = {
    ...real,
    async verify(password, hash) {
      const valid = await real.verify(password, hash);
      if (password === gate.password && gate.release) {
        gate.reached?.();
        await gate.release;
      }
      return valid;
    },
  };
  app = await createApp(testConfig(), { database, hasher, clock: new ManualClock(new Date('2026-01-01T00:00:00Z')) });
});
afterAll(async () => {
  await app?.close();
  await database?.close();
});

const caller = (accessToken?: string) =>
  createCaller({
    services: app.services,
    request: {
      authorization: accessToken ? `Bearer ${accessToken}` : undefined,
      ip: '192.0.2.40',
      userAgent: 'test',
      requestId: undefined,
    },
  });

describe('a login racing a password change', () => {
  it('a login that checked the old password while the password changed starts no session', async () => {
    const input = newUser('race');
    const owner = await caller().auth.register(input);
    let open: () => void = () => {};
    const reached = new Promise<void>((resolve) => {
      gate.reached = resolve;
    });
    gate.release = new Promise<void>((resolve) => {
      open = resolve;
    });
    gate.password = input.password;

    // The thief's login has checked the old password and is about to start its session...
    const login = failure(caller().auth.login(input)).catch((error: unknown) => error);
    await reached;
    gate.password = undefined;
    // ...when the owner changes the password (which ends every other session).
    await caller(owner.accessToken).user.changePassword({ currentPassword: input.password, newPassword: 'the owner has a new one' });
    open();

    expect(await login).toMatchObject({ appCode: 'INVALID_CREDENTIALS' });
    const sessions = await caller(owner.accessToken).auth.sessions();
    expect(sessions.map((s) => s.current)).toEqual([true]);
  });
});
