import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createAuthClient, memoryStorage, SessionManager, type StoredSession, WebAuthnUnavailableError } from '../src/index.js';

describe('passkeys where WebAuthn is not available (Node)', () => {
  it('every passkey method rejects with WebAuthnUnavailableError, and nothing is sent to the server', async () => {
    const sent: string[] = [];
    const storage = memoryStorage();
    const auth = createAuthClient({
      url: 'http://127.0.0.1:9',
      storage,
      fetch: async (input) => {
        sent.push(String(input));
        throw new Error('no request was expected');
      },
    });
    const calls: [string, () => Promise<unknown>][] = [
      ['passkeys.register', () => auth.passkeys.register({ name: 'laptop' })],
      ['signInWithPasskey', () => auth.signInWithPasskey()],
      ['signInWithPasskey conditional', () => auth.signInWithPasskey({ email: 'a@example.com', conditional: true })],
      ['verifyMfaWithPasskey', () => auth.verifyMfaWithPasskey({ mfaToken: 'token' })],
      ['reauthenticateWithPasskey', () => auth.reauthenticateWithPasskey()],
    ];
    for (const [name, call] of calls) {
      const error = await call().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error, name).toBeInstanceOf(WebAuthnUnavailableError);
      expect(error, name).toBeInstanceOf(Error);
      expect((error as Error).name).toBe('WebAuthnUnavailableError');
      expect((error as Error).message).toMatch(/WebAuthn/);
    }
    expect(sent).toEqual([]);
    expect(await storage.get()).toBeNull();
  });

  it("the built package imports in plain Node (no DOM), @simplewebauthn/browser's included", () => {
    const script = `
      const sdk = await import('@latchkey/client');
      const auth = sdk.createAuthClient({ url: 'http://127.0.0.1:9' });
      const error = await auth.signInWithPasskey().catch((e) => e);
      process.stdout.write(JSON.stringify({ unavailable: error instanceof sdk.WebAuthnUnavailableError, name: error.name }));
    `;
    const output = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
      cwd: join(import.meta.dirname, '..'),
      encoding: 'utf8',
    });
    expect(JSON.parse(output)).toEqual({ unavailable: true, name: 'WebAuthnUnavailableError' });
  });
});

/** An access token as far as the client reads one: its `sid` (the signature is the server's business). */
const tokenFor = (sid: string, n: number) =>
  `eyJhbGciOiJFZERTQSJ9.${Buffer.from(JSON.stringify({ sid, n })).toString('base64url')}.signature`;

function sessionOf(sid: string, refreshToken: string): StoredSession {
  return {
    user: null,
    accessToken: tokenFor(sid, 0),
    accessTokenExpiresAt: new Date(Date.now() + 60_000),
    refreshToken,
    refreshTokenExpiresAt: new Date(Date.now() + 3_600_000),
  };
}

describe("a re-authentication's access token (reauthenticateWithPasskey stores it with replaceAccessToken)", () => {
  const manager = (storage = memoryStorage()) =>
    new SessionManager({
      storage,
      refresh: () => Promise.reject(new Error('no refresh expected')),
      now: Date.now,
      refreshMarginMs: 0,
      lockTimeoutMs: 1_000,
    });

  it("replaces the session's access token, here and in the storage, and keeps the refresh token and the device token", async () => {
    const storage = memoryStorage();
    const sessions = manager(storage);
    await sessions.set(sessionOf('11111111-1111-4111-8111-111111111111', 'refresh-1'), 'device-1');
    const changes: (string | undefined)[] = [];
    sessions.subscribe((session) => changes.push(session?.accessToken));
    const fresh = {
      accessToken: tokenFor('11111111-1111-4111-8111-111111111111', 1),
      accessTokenExpiresAt: new Date(Date.now() + 900_000),
    };
    expect(await sessions.replaceAccessToken(fresh)).toBe(true);
    expect(sessions.peek()).toMatchObject({ ...fresh, refreshToken: 'refresh-1' });
    const stored = await storage.get();
    expect(stored?.session).toMatchObject({ ...fresh, refreshToken: 'refresh-1' });
    expect(stored?.deviceToken).toBe('device-1');
    expect(changes).toEqual([fresh.accessToken]);
  });

  it('goes into the stored session of the same server session even when another client rotated its refresh token meanwhile', async () => {
    const storage = memoryStorage();
    const sessions = manager(storage);
    const sid = '22222222-2222-4222-8222-222222222222';
    await sessions.set(sessionOf(sid, 'refresh-1'));
    // Another client on the storage refreshed: same session, new refresh token.
    await manager(storage).set(sessionOf(sid, 'refresh-2'));
    const fresh = { accessToken: tokenFor(sid, 1), accessTokenExpiresAt: new Date(Date.now() + 900_000) };
    expect(await sessions.replaceAccessToken(fresh)).toBe(true);
    expect((await storage.get())?.session).toMatchObject({ ...fresh, refreshToken: 'refresh-2' });
  });

  it('is dropped when the storage holds another session by then (a sign-in elsewhere), and this client follows the storage', async () => {
    const storage = memoryStorage();
    const sessions = manager(storage);
    await sessions.set(sessionOf('33333333-3333-4333-8333-333333333333', 'refresh-1'));
    const other = sessionOf('44444444-4444-4444-8444-444444444444', 'refresh-other');
    await manager(storage).set(other);
    const fresh = { accessToken: tokenFor('33333333-3333-4333-8333-333333333333', 1), accessTokenExpiresAt: new Date() };
    expect(await sessions.replaceAccessToken(fresh)).toBe(false);
    expect((await storage.get())?.session).toEqual(other);
    expect(sessions.peek()).toEqual(other);
  });
});
