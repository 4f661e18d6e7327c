/** The admin REST routes (issue 16, item 5): the admin services over HTTP, role admin only. */
import { describe, expect, it } from 'vitest';
import { newUser, servedForFile } from './helpers/app.js';

const file = servedForFile({ env: { TRUST_PROXY: 'true' } });

async function signedUp() {
  const input = newUser('restadmin');
  const session = await file.app.caller().auth.register(input);
  return { input, token: session.accessToken, userId: session.user.id };
}

async function anAdmin() {
  const admin = await signedUp();
  await file.app.services.admin.grantByEmail(admin.input.email);
  return admin;
}

const MISSING = '00000000-0000-4000-8000-000000000000';

describe('/api/admin', () => {
  it('is 403 ADMIN_ONLY for a user, whatever the target or the body, and 401 without a token', async () => {
    const { token } = await signedUp();
    const { userId } = await signedUp();
    const requests: Array<[string, string, unknown?]> = [
      ['GET', '/api/admin/users?limit=nope'],
      ['GET', `/api/admin/user?user_id=${userId}`],
      ['GET', `/api/admin/user?user_id=${MISSING}`],
      ['POST', '/api/admin/user/disable', { user_id: userId, reason: 'x' }],
      ['POST', '/api/admin/user/disable', { user_id: 'not-a-uuid' }],
      ['POST', '/api/admin/user/enable', { user_id: MISSING }],
      ['POST', '/api/admin/user/revoke-sessions', { user_id: userId }],
      ['POST', '/api/admin/user/role', { user_id: userId, role: 'admin' }],
      ['GET', '/api/admin/events?type=login.failed'],
    ];
    for (const [method, path, json] of requests) {
      const answer = await file.call(method, path, { token, ...(json !== undefined && { json }) });
      expect([path, answer.status, (answer.body as { code?: string }).code]).toEqual([path, 403, 'ADMIN_ONLY']);
    }
    expect((await file.call('GET', '/api/admin/users')).status).toBe(401);
  });

  it('lists, shows, disables, enables, ends sessions and changes roles, each recorded', async () => {
    const admin = await anAdmin();
    const target = await signedUp();
    const listed = await file.call('GET', `/api/admin/users?query=${encodeURIComponent(target.input.username)}`, { token: admin.token });
    expect(listed.status).toBe(200);
    expect((listed.body as { users: unknown[] }).users).toEqual([
      expect.objectContaining({
        id: target.userId,
        role: 'user',
        session_count: 1,
        disabled_at: null,
        last_sign_in_at: expect.any(String),
      }),
    ]);
    const shown = await file.call('GET', `/api/admin/user?user_id=${target.userId}`, { token: admin.token });
    expect(shown.body).toMatchObject({
      user: { id: target.userId },
      sessions: [{ ip: expect.any(String) }],
      events: [{ type: 'user.registered' }],
    });
    expect((await file.call('GET', `/api/admin/user?user_id=${MISSING}`, { token: admin.token })).status).toBe(404);

    const disabled = await file.call('POST', '/api/admin/user/disable', {
      token: admin.token,
      json: { user_id: target.userId, reason: 'abuse' },
    });
    expect(disabled.status).toBe(200);
    expect((disabled.body as { user: { disabled_at: string | null } }).user.disabled_at).toEqual(expect.any(String));
    const login = await file.call('POST', '/api/users/login', {
      json: { user: { email: target.input.email, password: target.input.password } },
    });
    expect([login.status, (login.body as { code?: string }).code]).toEqual([403, 'ACCOUNT_DISABLED']);
    expect((await file.call('GET', '/api/user', { token: target.token })).status).toBe(401);

    const enabled = await file.call('POST', '/api/admin/user/enable', { token: admin.token, json: { user_id: target.userId } });
    expect((enabled.body as { user: { disabled_at: string | null } }).user.disabled_at).toBeNull();
    expect(
      (await file.call('POST', '/api/users/login', { json: { user: { email: target.input.email, password: target.input.password } } }))
        .status,
    ).toBe(200);

    const revoked = await file.call('POST', '/api/admin/user/revoke-sessions', { token: admin.token, json: { user_id: target.userId } });
    expect(revoked.body).toEqual({ revoked: 1 });
    const promoted = await file.call('POST', '/api/admin/user/role', {
      token: admin.token,
      json: { user_id: target.userId, role: 'admin' },
    });
    expect(promoted.body).toMatchObject({ user: { role: 'admin' } });
    const self = await file.call('POST', '/api/admin/user/role', { token: admin.token, json: { user_id: admin.userId, role: 'user' } });
    expect([self.status, (self.body as { code?: string }).code]).toEqual([403, 'ADMIN_SELF_CHANGE']);

    const events = await file.call('GET', `/api/admin/events?user_id=${target.userId}&limit=100`, { token: admin.token });
    expect((events.body as { events: Array<{ type: string; actor_kind: string }> }).events.map((e) => [e.type, e.actor_kind])).toEqual([
      ['admin.role_changed', 'admin'],
      ['admin.sessions_revoked', 'admin'],
      ['login.succeeded', 'user'],
      ['user.enabled', 'admin'],
      ['login.failed', 'user'],
      ['user.disabled', 'admin'],
      ['user.registered', 'user'],
    ]);
    const future = await file.call('GET', `/api/admin/events?user_id=${target.userId}&since=2100-01-01T00:00:00Z`, { token: admin.token });
    expect(future.body).toEqual({ events: [], next_cursor: null });
    expect((await file.call('GET', '/api/admin/events?since=yesterday', { token: admin.token })).status).toBe(422);
    // A time PostgreSQL cannot hold is refused as input, not answered with a 500.
    expect((await file.call('GET', '/api/admin/events?since=0000-01-01T00:00:00Z', { token: admin.token })).status).toBe(422);
    expect((await file.call('GET', '/api/admin/events?type=no.such', { token: admin.token })).status).toBe(422);
  });

  it('a change without a recent re-authentication is 403 REAUTHENTICATION_REQUIRED', async () => {
    const admin = await anAdmin();
    const target = await signedUp();
    file.app.clock.advance(6 * 60);
    const answer = await file.call('POST', '/api/admin/user/disable', {
      token: admin.token,
      json: { user_id: target.userId, reason: 'stale' },
    });
    expect([answer.status, (answer.body as { code?: string }).code]).toEqual([403, 'REAUTHENTICATION_REQUIRED']);
  });
});
