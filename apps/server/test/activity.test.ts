/** A user's own security activity (issue 16, item 3): auth.activity and GET /api/user/activity. */
import { describe, expect, it } from 'vitest';
import { newUser, servedForFile, signedIn } from './helpers/app.js';
import { failure } from './helpers/failure.js';

const file = servedForFile({ env: { TRUST_PROXY: 'true' } });

/** A user with a second session (a login) and a failed login: four events, two sessions. */
async function busyUser() {
  const input = newUser('activity');
  const first = await file.app.caller({ userAgent: 'first-browser' }).auth.register(input);
  file.app.clock.advance(1);
  const second = await signedIn(
    file.app.caller({ userAgent: 'second-browser' }).auth.login({ email: input.email, password: input.password }),
  );
  file.app.clock.advance(1);
  await failure(file.app.caller({ ip: '203.0.113.9' }).auth.login({ email: input.email, password: 'not the passphrase here' }));
  file.app.clock.advance(1);
  await file.app.caller({ accessToken: first.accessToken }).auth.reauthenticate({ password: input.password });
  return { input, first, second };
}

describe('auth.activity', () => {
  it("answers the user's own events newest first, each with time, address, user agent and whether it is this session's", async () => {
    const { first, second } = await busyUser();
    await busyUser(); // someone else's events are not shown
    const page = await file.app.caller({ accessToken: second.accessToken }).auth.activity();
    expect(page.events.map((e) => [e.type, e.userAgent, e.current])).toEqual([
      ['reauthenticated', 'latchkey-test-kit', false],
      ['login.failed', 'latchkey-test-kit', false],
      ['login.succeeded', 'second-browser', true],
      ['user.registered', 'first-browser', false],
    ]);
    expect(page.events[1]?.ip).toBe('203.0.113.9');
    expect(page.events[0]?.createdAt.getTime()).toBeGreaterThan(page.events[3]?.createdAt.getTime() ?? Number.POSITIVE_INFINITY);
    expect(page.nextCursor).toBeNull();
    const fromFirst = await file.app.caller({ accessToken: first.accessToken }).auth.activity({});
    expect(fromFirst.events.filter((e) => e.current).map((e) => e.type)).toEqual(['reauthenticated', 'user.registered']);
  });

  it('pages by keyset: every event once, in order, even when new ones arrive between pages', async () => {
    const { input, first } = await busyUser();
    const as = file.app.caller({ accessToken: first.accessToken });
    const all = (await as.auth.activity({ limit: 100 })).events.map((e) => e.id);
    const seen: string[] = [];
    let cursor: string | undefined;
    for (let i = 0; i < 10; i++) {
      const page = await as.auth.activity({ limit: 3, ...(cursor && { cursor }) });
      seen.push(...page.events.map((e) => e.id));
      // A new event at the head does not shift the pages behind the cursor.
      if (i === 0) await signedIn(file.app.caller().auth.login({ email: input.email, password: input.password }));
      if (page.nextCursor === null) break;
      cursor = page.nextCursor;
    }
    expect(seen).toEqual(all);
  });

  it('refuses a bad cursor or limit as input, and a caller without a session', async () => {
    const { first } = await busyUser();
    const as = file.app.caller({ accessToken: first.accessToken });
    expect(await failure(as.auth.activity({ cursor: 'abc' }))).toMatchObject({ code: 'BAD_REQUEST' });
    expect(await failure(as.auth.activity({ limit: 101 }))).toMatchObject({ code: 'BAD_REQUEST' });
    expect(await failure(as.auth.activity({ limit: 0 }))).toMatchObject({ code: 'BAD_REQUEST' });
    expect(await failure(file.app.caller().auth.activity())).toMatchObject({ appCode: 'ACCESS_TOKEN_MISSING' });
  });

  it('a cursor past the bigint range is a validation error, never a 500', async () => {
    const { first } = await busyUser();
    const as = file.app.caller({ accessToken: first.accessToken });
    expect(await failure(as.auth.activity({ cursor: '9999999999999999999' }))).toMatchObject({ code: 'BAD_REQUEST' });
    await expect(as.auth.activity({ cursor: '9223372036854775807' })).resolves.toHaveProperty('events');
    const answer = await file.call('GET', '/api/user/activity?cursor=9999999999999999999', { token: first.accessToken });
    expect(answer.status).toBe(422);
  });

  it("what an admin did to the account shows without the admin's address and user agent", async () => {
    const admin = await file.app.caller().auth.register(newUser('actadmin'));
    await file.app.services.admin.grantByEmail(admin.user.email);
    const targetInput = newUser('acttarget');
    const target = await file.app.caller({ userAgent: 'target-browser' }).auth.register(targetInput);
    await file.app
      .caller({ accessToken: admin.accessToken, ip: '203.0.113.250', userAgent: 'admin-console' })
      .admin.users.revokeSessions({ userId: target.user.id });
    const again = await signedIn(file.app.caller({ userAgent: 'target-browser' }).auth.login(targetInput));
    const { events } = await file.app.caller({ accessToken: again.accessToken }).auth.activity();
    const byAdmin = events.find((e) => e.type === 'admin.sessions_revoked');
    expect(byAdmin).toMatchObject({ ip: null, userAgent: null });
    expect(events.find((e) => e.type === 'user.registered')).toMatchObject({ userAgent: 'target-browser' });
  });
});

describe('GET /api/user/activity', () => {
  it('answers the same page in snake_case, with next_cursor', async () => {
    const { second } = await busyUser();
    const answer = await file.call('GET', '/api/user/activity?limit=3', { token: second.accessToken });
    expect(answer.status).toBe(200);
    const body = answer.body as { events: Array<Record<string, unknown>>; next_cursor: string | null };
    expect(body.events.map((e) => e.type)).toEqual(['reauthenticated', 'login.failed', 'login.succeeded']);
    expect(body.events[2]).toMatchObject({ current: true, user_agent: 'second-browser' });
    expect(typeof body.events[0]?.created_at).toBe('string');
    expect(body.next_cursor).toEqual(expect.any(String));
    const rest = await file.call('GET', `/api/user/activity?cursor=${body.next_cursor}`, { token: second.accessToken });
    expect((rest.body as { events: Array<{ type: string }>; next_cursor: null }).events.map((e) => e.type)).toEqual(['user.registered']);
    expect((rest.body as { next_cursor: null }).next_cursor).toBeNull();
  });

  it('is 422 for a bad limit and 401 without a token', async () => {
    const { second } = await busyUser();
    expect((await file.call('GET', '/api/user/activity?limit=1000', { token: second.accessToken })).status).toBe(422);
    expect((await file.call('GET', '/api/user/activity?limit=-1', { token: second.accessToken })).status).toBe(422);
    expect((await file.call('GET', '/api/user/activity')).status).toBe(401);
  });
});
