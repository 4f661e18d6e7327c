import {
  migratedTestDatabase,
  newUser,
  onPostgres,
  TEST_DATABASE,
  TEST_JWT_SECRET as TEST_SECRET,
  type TestApp,
  type TestDatabase,
  testApp,
  until,
} from '@latchkey/server/testing';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createVerifier, isVerifyError, type Verifier } from '../src/index.js';
import { followRevocations } from '../src/revocation.js';

// Revocation travels through PostgreSQL's LISTEN/NOTIFY: nothing to follow on PGlite.
describe.runIf(onPostgres)('revocation awareness (PostgreSQL)', () => {
  let database: TestDatabase;
  let app: TestApp;
  let admin: pg.Client;
  const verifiers: Verifier[] = [];

  beforeAll(async () => {
    database = await migratedTestDatabase();
    // Real time on both sides: revocations are stamped by the server's clock and reloaded by the verifier's.
    // HS256 and the secret here (EdDSA and the JWKS are tested in verify.test.ts, http.test.ts, trpc.test.ts).
    app = await testApp(database, { clock: 'shifted', env: { ACCESS_TOKEN_ALG: 'HS256' } });
    admin = new pg.Client({ connectionString: TEST_DATABASE });
    await admin.connect();
  });
  afterAll(async () => {
    await Promise.all(verifiers.map((v) => v.close()));
    await admin?.end();
    await app?.close();
    await database?.close();
  });

  function follow(): Verifier {
    const url = database.url;
    if (url === undefined) throw new Error('a PostgreSQL test database has a URL');
    const verifier = createVerifier({ secret: TEST_SECRET, revocation: { postgresUrl: url } });
    verifiers.push(verifier);
    return verifier;
  }

  /** The code the verifier refuses with, or `accepted`. */
  async function verdict(verifier: Verifier, token: string): Promise<string> {
    try {
      await verifier.verify(token);
      return 'accepted';
    } catch (error) {
      if (isVerifyError(error)) return error.code;
      throw error;
    }
  }

  async function connectionsNamed(name: string | undefined): Promise<number> {
    const result = await admin.query<{ n: number }>('select count(*)::int as n from pg_stat_activity where application_name = $1', [name]);
    return result.rows[0]?.n ?? -1;
  }

  it('refuses the token of a session logged out on the server within one second, from the notification', async () => {
    const verifier = follow();
    expect(await verifier.ready()).toBe(true);
    const session = await app.caller().auth.register(newUser());
    expect(await verdict(verifier, session.accessToken)).toBe('accepted');
    await app.caller().auth.logout({ refreshToken: session.refreshToken });
    const started = Date.now();
    await until(async () => (await verdict(verifier, session.accessToken)) === 'SESSION_REVOKED', 1_000);
    expect(Date.now() - started).toBeLessThan(1_000);
    // It was the notification, not a lookup: the list stayed trusted throughout.
    expect(verifier.revocationStatus).toBe('following');
  });

  it('refuses every session of a user after logout-everywhere, and lets other users through', async () => {
    const verifier = follow();
    expect(await verifier.ready()).toBe(true);
    const user = newUser();
    const first = await app.caller().auth.register(user);
    const second = await app.caller().auth.login({ email: user.email, password: user.password });
    if ('mfaRequired' in second) throw new Error('this user has no second factor');
    const bystander = await app.caller().auth.register(newUser());
    await app.caller({ accessToken: first.accessToken }).auth.logoutAll();
    await until(async () => (await verdict(verifier, second.accessToken)) === 'SESSION_REVOKED', 1_000);
    expect(await verdict(verifier, first.accessToken)).toBe('SESSION_REVOKED');
    expect(await verdict(verifier, bystander.accessToken)).toBe('accepted');
  });

  it('knows sessions revoked before it started, and asks the database until it has loaded them', async () => {
    const session = await app.caller().auth.register(newUser());
    const live = await app.caller().auth.register(newUser());
    await app.caller().auth.logout({ refreshToken: session.refreshToken });
    const verifier = follow();
    // Straight away, before the listener has synchronised: answered by a lookup.
    expect(verifier.revocationStatus).toBe('database');
    expect(await verdict(verifier, session.accessToken)).toBe('SESSION_REVOKED');
    expect(await verdict(verifier, live.accessToken)).toBe('accepted');
    expect(await verifier.ready()).toBe(true);
    expect(await verdict(verifier, session.accessToken)).toBe('SESSION_REVOKED');
    expect(await verdict(verifier, live.accessToken)).toBe('accepted');
  });

  it('when its connection is cut, asks the database, reconnects, and reloads what was revoked meanwhile', async () => {
    const verifier = follow();
    expect(await verifier.ready()).toBe(true);
    const session = await app.caller().auth.register(newUser());
    const live = await app.caller().auth.register(newUser());
    const killed = await admin.query('select pg_terminate_backend(pid) from pg_stat_activity where application_name = $1', [
      verifier.revocationListenerName,
    ]);
    expect(killed.rowCount).toBe(1);
    await until(() => verifier.revocationStatus === 'database', 2_000);
    // Revoked while nobody listens: the notification is lost, the row is not.
    await app.caller().auth.logout({ refreshToken: session.refreshToken });
    await until(async () => (await verdict(verifier, session.accessToken)) === 'SESSION_REVOKED', 1_000);
    expect(await verdict(verifier, live.accessToken)).toBe('accepted');
    expect(await verifier.ready(5_000)).toBe(true);
    // Trusted again, it answers from its list alone: the reload has brought the revocation in.
    expect(await verdict(verifier, session.accessToken)).toBe('SESSION_REVOKED');
    expect(await verdict(verifier, live.accessToken)).toBe('accepted');
    expect(await connectionsNamed(verifier.revocationListenerName)).toBe(1);
  });

  it('a listener that stops hearing its own heartbeat is no longer trusted, and a session revoked meanwhile is refused', async () => {
    const url = database.url;
    if (url === undefined) throw new Error('a PostgreSQL test database has a URL');
    const follower = followRevocations({ postgresUrl: url, heartbeatMs: 200 }, () => new Date());
    try {
      expect(await follower.ready()).toBe(true);
      const session = await app.caller().auth.register(newUser());
      const { sid: sessionId } = JSON.parse(Buffer.from(session.accessToken.split('.')[1] ?? '', 'base64url').toString()) as {
        sid: string;
      };
      expect(await follower.isRevoked(sessionId)).toBe(false);
      // Deaf without an error or an end: the connection is up, but no longer hears the channel.
      await follower.listenerConnection?.query('UNLISTEN *');
      await until(() => !follower.trusted, 600);
      await app.caller().auth.logout({ refreshToken: session.refreshToken });
      // The notification is lost on the deaf connection; the database answers instead.
      expect(await follower.isRevoked(sessionId)).toBe(true);
      // Still deaf: the connection is replaced and the new one reloads the window.
      expect(await follower.ready(5_000)).toBe(true);
      expect(await follower.isRevoked(sessionId)).toBe(true);
    } finally {
      await follower.close();
    }
  });

  it('close() ends its connections', async () => {
    const verifier = follow();
    expect(await verifier.ready()).toBe(true);
    const name = verifier.revocationListenerName;
    expect(await connectionsNamed(name)).toBe(1);
    await verifier.close();
    await until(async () => (await connectionsNamed(name)) === 0 && (await connectionsNamed(`${name}:lookup`)) === 0, 2_000);
    expect(await verifier.ready()).toBe(false);
  });
});
