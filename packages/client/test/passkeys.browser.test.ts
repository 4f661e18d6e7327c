/**
 * Passkeys in a real browser: Debian's Chromium with the DevTools protocol's virtual
 * authenticator, the SDK's own browser bundle in a page served from http://localhost (a secure
 * context, RP ID `localhost`), against the real server.
 */
import { existsSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { migratedTestDatabase, newUser, type ServedApp, servedApp, type TestDatabase } from '@latchkey/server/testing';
import { type Browser, type BrowserContext, type CDPSession, chromium, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { AuthClient } from '../src/index.js';
import { browserBundle } from './bundle.js';

const CHROMIUM = '/usr/bin/chromium';
// CI installs Debian's chromium (.ci/run); elsewhere the suite says why it did not run.
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium && process.env.CI) throw new Error(`${CHROMIUM} is missing: .ci/run installs it with apt-get`);

const AUTHENTICATE = '/trpc/auth.passkeys.authenticate';
const AUTHENTICATION_OPTIONS = '/trpc/auth.passkeys.authenticationOptions';

const PAGE = `<!doctype html><meta charset="utf-8"><title>latchkey passkeys</title>
<script type="module">
  import { createAuthClient } from '/client.js';
  // Every request the SDK sends, with its body, and the answers to the options requests.
  window.sent = [];
  window.answered = [];
  // While set, the options of a sign-in tell the browser not to ask for user verification: the
  // server's own check is what is tested then, not Chrome's.
  window.relaxUserVerification = false;
  const recording = async (input, init) => {
    const path = new URL(String(input)).pathname;
    window.sent.push({ path, body: typeof init?.body === 'string' ? init.body : null });
    const response = await fetch(input, { ...init, cache: 'no-store' });
    if (!path.endsWith('Options')) return response;
    let text = await response.text();
    if (window.relaxUserVerification && path.endsWith('/auth.passkeys.authenticationOptions'))
      text = text.replaceAll('"userVerification":"required"', '"userVerification":"discouraged"');
    window.answered.push({ path, text });
    const headers = new Headers(response.headers);
    headers.delete('content-length');
    return new Response(text, { status: response.status, statusText: response.statusText, headers });
  };
  window.sdk = createAuthClient({ url: location.origin, fetch: recording });
  // The appCode a call was refused with, or what went wrong in the browser, or 'accepted'.
  window.refusal = (promise) =>
    promise.then(
      () => 'accepted',
      (error) => error?.data?.appCode ?? (error?.name + ': ' + error?.message),
    );
  // Sends the last request to path again, byte for byte; resolves to the appCode it was refused with.
  window.replay = async (path) => {
    const last = window.sent.findLast((request) => request.path === path);
    const response = await fetch(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: last.body, cache: 'no-store' });
    const answer = await response.json();
    return { status: response.status, appCode: answer?.error?.json?.data?.appCode ?? answer?.error?.data?.appCode };
  };
  window.ready = true;
</script>`;

interface Sent {
  path: string;
  body: string | null;
}
declare global {
  interface Window {
    sdk: AuthClient;
    ready: boolean;
    sent: Sent[];
    answered: { path: string; text: string }[];
    relaxUserVerification: boolean;
    refusal(promise: Promise<unknown>): Promise<string>;
    replay(path: string): Promise<{ status: number; appCode: string | undefined }>;
  }
}

/** The claims of an access token, read without checking it (the server made it a moment ago). */
function claimsOf(accessToken: string | undefined): { amr?: string[]; aal?: number; auth_time?: number; sid?: string } {
  const payload = accessToken?.split('.')[1];
  if (!payload) throw new Error('no access token');
  return JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
}

/** The WebAuthn JSON a request to a passkey procedure carried (superjson's `json`). */
function credentialOf(sent: Sent | undefined): {
  response: { clientDataJSON: string; authenticatorData: string };
} {
  if (!sent?.body) throw new Error('no such request');
  const { json } = JSON.parse(sent.body) as { json: { response?: unknown; passkey?: unknown } };
  return (json.response ?? json.passkey) as ReturnType<typeof credentialOf>;
}

/** What the authenticator said in an assertion: its flags (UP 0x01, UV 0x04) and sign count. */
function authenticatorDataOf(sent: Sent | undefined): { userVerified: boolean; signCount: number } {
  const data = Buffer.from(credentialOf(sent).response.authenticatorData, 'base64url');
  return { userVerified: ((data[32] ?? 0) & 0x04) !== 0, signCount: data.readUInt32BE(33) };
}

/** The result of a tRPC answer's text (batched or not; superjson's `json`). */
function answerOf(text: string | undefined): Record<string, unknown> {
  if (!text) throw new Error('no such answer');
  const parsed = JSON.parse(text) as unknown;
  const [first] = Array.isArray(parsed) ? parsed : [parsed];
  return (first as { result: { data: { json: Record<string, unknown> } } }).result.data.json;
}

function clientDataOf(sent: Sent | undefined): { type: string; origin: string } {
  return JSON.parse(Buffer.from(credentialOf(sent).response.clientDataJSON, 'base64url').toString('utf8'));
}

describe.runIf(haveChromium)(
  haveChromium ? 'passkeys in a real browser' : `passkeys in a real browser (skipped: ${CHROMIUM} is missing; with CI set this fails)`,
  () => {
    let database: TestDatabase;
    let server: ServedApp;
    /** The page's site, whose origin the server accepts for passkeys, and another one on the same RP ID that it does not. */
    let site: Server;
    let otherSite: Server;
    let origin: string;
    let otherOrigin: string;
    let browser: Browser;
    const contexts: BrowserContext[] = [];

    /** A site on 127.0.0.1 serving the page and the SDK's bundle; every other request goes to Latchkey (one origin for page and API). */
    async function serveSite(bundle: string): Promise<[Server, string]> {
      const forward = (req: IncomingMessage, res: ServerResponse) => server.http.server.emit('request', req, res);
      const http = createServer((req, res) => {
        if (req.url === '/') return res.writeHead(200, { 'content-type': 'text/html' }).end(PAGE);
        if (req.url === '/client.js') return res.writeHead(200, { 'content-type': 'text/javascript' }).end(bundle);
        forward(req, res);
      });
      await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
      const address = http.address();
      // http://localhost is a secure context, where WebAuthn is available; its RP ID is `localhost`.
      return [http, `http://localhost:${typeof address === 'object' && address ? address.port : 0}`];
    }

    beforeAll(async () => {
      const bundle = await browserBundle();
      [site, origin] = await serveSite(bundle);
      [otherSite, otherOrigin] = await serveSite(bundle);
      database = await migratedTestDatabase();
      server = await servedApp(database, {
        clock: 'shifted',
        env: { WEBAUTHN_RP_ID: 'localhost', WEBAUTHN_ORIGINS: origin, CORS_ORIGINS: origin },
      });
      browser = await chromium.launch({
        executablePath: CHROMIUM,
        headless: true,
        args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
      });
    });
    afterEach(async () => {
      for (const context of contexts.splice(0)) await context.close();
    });
    afterAll(async () => {
      await browser?.close();
      for (const http of [site, otherSite]) await new Promise((resolve) => (http ? http.close(resolve) : resolve(undefined)));
      await server?.close();
      await database?.close();
    });

    /** A page of the site in a fresh profile, with a virtual authenticator that verifies its user. */
    async function openPage(at = origin): Promise<{ page: Page; cdp: CDPSession; authenticatorId: string }> {
      const context = await browser.newContext();
      contexts.push(context);
      const page = await context.newPage();
      await page.goto(at);
      await page.waitForFunction(() => window.ready === true);
      const cdp = await context.newCDPSession(page);
      await cdp.send('WebAuthn.enable');
      const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
        options: {
          protocol: 'ctap2',
          transport: 'internal',
          hasResidentKey: true,
          hasUserVerification: true,
          isUserVerified: true,
          automaticPresenceSimulation: true,
        },
      });
      return { page, cdp, authenticatorId };
    }

    /**
     * Signs up with a password in the page (a sign-up is a recent proof of identity) and registers
     * a passkey on the page's authenticator; signed in still.
     */
    async function signUpWithPasskey(page: Page) {
      const input = newUser('passkey');
      const registered = await page.evaluate(async (user) => {
        const signedUp = await window.sdk.register(user);
        const answer = await window.sdk.passkeys.register({ name: 'Test laptop' });
        return { userId: signedUp.user.id, ...answer };
      }, input);
      return { input, ...registered };
    }

    const sentTo = (page: Page, path: string) => page.evaluate((p) => window.sent.filter((request) => request.path === p), path);
    const lastSentTo = async (page: Page, path: string) => (await sentTo(page, path)).at(-1);
    const accessToken = (page: Page) => page.evaluate(() => window.sdk.session().then((s) => s?.accessToken));
    const logout = (page: Page) => page.evaluate(() => window.sdk.logout().then(() => undefined));
    const signInRefusal = (page: Page) => page.evaluate(() => window.refusal(window.sdk.signInWithPasskey()));
    const eventsOf = (userId: string) =>
      database.db
        .selectFrom('security_events')
        .select('type')
        .where('user_id', '=', userId)
        .execute()
        .then((rows) => rows.map((row) => row.type));

    it('registers a passkey after a password sign-up, then signs in with it usernameless: the token says amr ["hwk"], aal 2', async () => {
      const { page } = await openPage();
      const { input, passkey, recoveryCodes } = await signUpWithPasskey(page);
      expect(passkey).toMatchObject({ name: 'Test laptop', lastUsedAt: null, backedUp: false, deviceType: 'singleDevice' });
      expect(passkey.createdAt).toBeInstanceOf(Date);
      // The account's first second factor: recovery codes come with it.
      expect(recoveryCodes.length).toBeGreaterThan(0);
      // The registration options asked for a discoverable, user-verified credential, and did not name the user by email.
      const creation = answerOf(await page.evaluate(() => window.answered.find((a) => a.path.includes('registrationOptions'))?.text));
      expect(creation).toMatchObject({
        rp: { id: 'localhost' },
        authenticatorSelection: { residentKey: 'required', userVerification: 'required' },
      });
      const handle = Buffer.from(String((creation.user as { id?: unknown } | undefined)?.id), 'base64url');
      expect(handle.length).toBeGreaterThanOrEqual(16);
      expect(handle.toString('utf8')).not.toContain(input.email);
      expect(await page.evaluate(() => window.sdk.auth.passkeys.list.query())).toEqual([passkey]);
      await logout(page);
      expect(await accessToken(page)).toBeUndefined();

      const signedIn = await page.evaluate(() => window.sdk.signInWithPasskey());
      expect(signedIn).toMatchObject({ status: 'signed-in', user: { email: input.email } });
      // Usernameless: nothing named the user, and the options listed no credential.
      const request = await lastSentTo(page, AUTHENTICATION_OPTIONS);
      expect(JSON.parse(request?.body ?? 'null')).toEqual({ json: {} });
      const { options } = answerOf(
        await page.evaluate((p) => window.answered.findLast((a) => a.path === p)?.text, AUTHENTICATION_OPTIONS),
      ) as {
        options: { allowCredentials?: unknown[] };
      };
      expect(options.allowCredentials ?? []).toEqual([]);
      expect(clientDataOf(await lastSentTo(page, AUTHENTICATE))).toMatchObject({ type: 'webauthn.get', origin });
      // Stored as a login stores it; the token says how.
      const token = await accessToken(page);
      expect(token).toBe(signedIn.accessToken);
      expect(claimsOf(token)).toMatchObject({ amr: ['hwk'], aal: 2 });
      expect(await page.evaluate(() => window.sdk.user.me.query().then((me) => me.email))).toBe(input.email);
      const [listed] = await page.evaluate(() => window.sdk.auth.passkeys.list.query());
      expect(listed?.lastUsedAt).toBeInstanceOf(Date);
      expect(await eventsOf(signedIn.user.id)).toEqual(expect.arrayContaining(['passkey.added', 'passkey.used']));
      // The registration options exclude the user's passkeys: this authenticator holds one already.
      expect(await page.evaluate(() => window.refusal(window.sdk.passkeys.register()))).toMatch(/^InvalidStateError/);
    });

    it('signs in with a passkey given the email too', async () => {
      const { page } = await openPage();
      const { input } = await signUpWithPasskey(page);
      await logout(page);
      const signedIn = await page.evaluate((email) => window.sdk.signInWithPasskey({ email }), input.email);
      expect(signedIn).toMatchObject({ status: 'signed-in', user: { email: input.email } });
      expect(claimsOf(signedIn.accessToken)).toMatchObject({ amr: ['hwk'], aal: 2 });
    });

    it("conditional UI: waits on the page's autofill field, where the authenticator's passkey signs in", async () => {
      const { page } = await openPage();
      const { input } = await signUpWithPasskey(page);
      await logout(page);
      // Without an <input autocomplete="... webauthn"> there is no autofill to wait on.
      expect(await page.evaluate(() => window.refusal(window.sdk.signInWithPasskey({ conditional: true })))).toMatch(/No <input>/);
      await page.evaluate(() => {
        const field = document.createElement('input');
        field.autocomplete = 'username webauthn';
        document.body.append(field);
      });
      const signingIn = page.evaluate(() => window.sdk.signInWithPasskey({ conditional: true }));
      // The virtual authenticator picks its passkey as a user would in the field's suggestions.
      await page.click('input');
      const signedIn = await signingIn;
      expect(signedIn).toMatchObject({ status: 'signed-in', user: { email: input.email } });
      expect(claimsOf(await accessToken(page))).toMatchObject({ amr: ['hwk'], aal: 2 });
    });

    it('the same credential is the second factor after the password: mfa-required lists it, verifyMfaWithPasskey signs in (amr pwd and hwk)', async () => {
      const { page } = await openPage();
      const { input } = await signUpWithPasskey(page);
      await logout(page);
      const login = await page.evaluate((user) => window.sdk.login({ email: user.email, password: user.password }), input);
      if (login.status !== 'mfa-required') throw new Error(`expected a second step, got ${login.status}`);
      expect(login.factors).toEqual(expect.arrayContaining([expect.objectContaining({ type: 'passkey' })]));
      expect(await accessToken(page)).toBeUndefined();

      const signedIn = await page.evaluate((mfaToken) => window.sdk.verifyMfaWithPasskey({ mfaToken }), login.mfaToken);
      expect(signedIn).toMatchObject({ status: 'signed-in', user: { email: input.email } });
      expect(await accessToken(page)).toBe(signedIn.accessToken);
      const claims = claimsOf(signedIn.accessToken);
      expect(claims.amr).toEqual(expect.arrayContaining(['pwd', 'hwk']));
      expect(claims.aal).toBe(2);
      // The options were bound to the pending sign-in, and the assertion went with auth.mfa.verify.
      expect(JSON.parse((await lastSentTo(page, AUTHENTICATION_OPTIONS))?.body ?? 'null')).toEqual({ json: { mfaToken: login.mfaToken } });
      expect(authenticatorDataOf(await lastSentTo(page, '/trpc/auth.mfa.verify')).userVerified).toBe(true);
      // The mfaToken was used up.
      expect(await page.evaluate((mfaToken) => window.refusal(window.sdk.verifyMfaWithPasskey({ mfaToken })), login.mfaToken)).toMatch(
        /^MFA_TOKEN_(INVALID|EXPIRED)$/,
      );
    });

    it('an authenticator that does not verify its user: the server refuses the sign-in (PASSKEY_INVALID), even when the browser was told not to ask', async () => {
      const { page, cdp, authenticatorId } = await openPage();
      await signUpWithPasskey(page);
      await logout(page);
      await cdp.send('WebAuthn.setUserVerified', { authenticatorId, isUserVerified: false });
      // Chrome itself refuses a UV=0 assertion when the options require verification...
      expect(await signInRefusal(page)).toMatch(/^NotAllowedError/);
      // ...so the page tells it the options did not, and the assertion reaches the server.
      await page.evaluate(() => {
        window.relaxUserVerification = true;
      });
      expect(await signInRefusal(page)).toBe('PASSKEY_INVALID');
      expect(authenticatorDataOf(await lastSentTo(page, AUTHENTICATE)).userVerified).toBe(false);
      expect(await accessToken(page)).toBeUndefined();
    });

    it('a replayed assertion is refused (CHALLENGE_EXPIRED): a challenge is used once', async () => {
      const { page } = await openPage();
      await signUpWithPasskey(page);
      await logout(page);
      const signedIn = await page.evaluate(() => window.sdk.signInWithPasskey());
      expect(signedIn.status).toBe('signed-in');
      expect(await page.evaluate((path) => window.replay(path), AUTHENTICATE)).toEqual({ status: 400, appCode: 'CHALLENGE_EXPIRED' });
    });

    it('an assertion made on another origin (same RP ID, not in WEBAUTHN_ORIGINS) is refused (PASSKEY_INVALID)', async () => {
      const { page } = await openPage();
      await signUpWithPasskey(page);
      // The virtual authenticator stays with the tab: the other site's page gets the same credential.
      await page.goto(otherOrigin);
      await page.waitForFunction(() => window.ready === true);
      expect(await signInRefusal(page)).toBe('PASSKEY_INVALID');
      expect(clientDataOf(await lastSentTo(page, AUTHENTICATE)).origin).toBe(otherOrigin);
      expect(await accessToken(page)).toBeUndefined();
      // Back on the site, the same credential signs in.
      await page.goto(origin);
      await page.waitForFunction(() => window.ready === true);
      expect(await signInRefusal(page)).toBe('accepted');
    });

    it('a sign count that goes backwards is refused (PASSKEY_INVALID) and recorded as passkey.clone_suspected', async () => {
      const { page } = await openPage();
      const { userId } = await signUpWithPasskey(page);
      await logout(page);
      expect(await signInRefusal(page)).toBe('accepted');
      const counted = authenticatorDataOf(await lastSentTo(page, AUTHENTICATE)).signCount;
      expect(counted).toBeGreaterThan(0);
      await logout(page);
      // As if a copy of the key had signed in 1000 times meanwhile.
      await database.db.updateTable('passkeys').set({ counter: 1000 }).where('user_id', '=', userId).execute();
      expect(await signInRefusal(page)).toBe('PASSKEY_INVALID');
      expect(authenticatorDataOf(await lastSentTo(page, AUTHENTICATE)).signCount).toBeLessThan(1000);
      expect(await accessToken(page)).toBeUndefined();
      expect(await eventsOf(userId)).toContain('passkey.clone_suspected');
    });

    it('renames a passkey, and removes it while the password is still a way in', async () => {
      const { page } = await openPage();
      const { passkey } = await signUpWithPasskey(page);
      const renamed = await page.evaluate((id) => window.sdk.auth.passkeys.rename.mutate({ id, name: 'Work laptop' }), passkey.id);
      expect(renamed).toEqual({ ...passkey, name: 'Work laptop' });
      // A recent proof with the account's second factor, the passkey itself.
      await page.evaluate(() => window.sdk.reauthenticateWithPasskey());
      expect(await page.evaluate((id) => window.sdk.auth.passkeys.remove.mutate({ id }), passkey.id)).toEqual({ success: true });
      expect(await page.evaluate(() => window.sdk.auth.passkeys.list.query())).toEqual([]);
      expect(await page.evaluate((id) => window.refusal(window.sdk.auth.passkeys.remove.mutate({ id })), passkey.id)).toBe(
        'PASSKEY_NOT_FOUND',
      );
    });

    it('removing the only passkey of an account without a password is refused (LAST_SIGN_IN_METHOD), after a re-authentication with it', async () => {
      const { page } = await openPage();
      const { userId, passkey } = await signUpWithPasskey(page);
      // An account whose only way in is its passkey.
      await database.db.updateTable('users').set({ password_hash: null }).where('id', '=', userId).execute();
      const before = claimsOf(await accessToken(page));
      // The sign-up proved the password only; the account has a second factor now, which is needed too.
      expect(await page.evaluate((id) => window.refusal(window.sdk.auth.passkeys.remove.mutate({ id })), passkey.id)).toBe(
        'REAUTHENTICATION_REQUIRED',
      );
      const answer = await page.evaluate(() => window.sdk.reauthenticateWithPasskey());
      expect(answer.accessTokenExpiresAt).toBeInstanceOf(Date);
      // The fresh token is stored: the next calls carry it.
      expect(await accessToken(page)).toBe(answer.accessToken);
      const after = claimsOf(answer.accessToken);
      expect(after.sid).toBe(before.sid);
      expect(after.amr).toContain('hwk');
      expect(after.auth_time).toBeGreaterThanOrEqual(before.auth_time ?? 0);
      expect(JSON.parse((await lastSentTo(page, AUTHENTICATION_OPTIONS))?.body ?? 'null')).toMatchObject({
        0: { json: { reauthenticate: true } },
      });

      const refusal = await page.evaluate((id) => window.refusal(window.sdk.auth.passkeys.remove.mutate({ id })), passkey.id);
      expect(refusal).toBe('LAST_SIGN_IN_METHOD');
      expect((await page.evaluate(() => window.sdk.auth.passkeys.list.query())).map((p) => p.id)).toEqual([passkey.id]);
    });
  },
);
