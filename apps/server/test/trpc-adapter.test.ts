import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FAST_PROCEDURES } from '../src/http/server.js';
import { appRouter } from '../src/router.js';
import { directCallOf } from '../src/trpc/init.js';
import { newUser, type ServedApp, servedApp } from './helpers/app.js';
import { migratedTestDatabase, type TestDatabase } from './helpers/database.js';

/** The lean tRPC handler must answer exactly as tRPC's standard node adapter does. */
let database: TestDatabase;
let fast: ServedApp;
let standard: ServedApp;
let accessToken: string;

beforeAll(async () => {
  database = await migratedTestDatabase();
  // Throttles scaled away: every case registers and signs in, all from 127.0.0.1.
  const env = { RATE_LIMIT_SCALE: '1000000' };
  fast = await servedApp(database, { trpcAdapter: 'fast', env });
  standard = await servedApp(database, { trpcAdapter: 'standard', env });
  accessToken = (await fast.caller().auth.register(newUser())).accessToken;
});
afterAll(async () => {
  await fast?.close();
  await standard?.close();
  await database?.close();
});

interface Call {
  name: string;
  path: string;
  method?: 'GET' | 'POST' | 'PUT';
  body?: string;
  headers?: Record<string, string>;
  /** Sent without a Content-Length, so that the limit is met while reading. */
  chunked?: boolean;
}

const json = (value: unknown) => JSON.stringify(value);
const batchInput = (inputs: unknown[]) => encodeURIComponent(json(Object.fromEntries(inputs.map((v, i) => [i, v]))));

const CALLS = (): Call[] => [
  { name: 'query without a token', path: '/trpc/user.me' },
  { name: 'query with a token', path: '/trpc/user.me', headers: { authorization: `Bearer ${accessToken}` } },
  { name: 'query with the Token scheme', path: '/trpc/user.me', headers: { authorization: `Token ${accessToken}` } },
  {
    name: 'batched queries',
    path: `/trpc/user.me,auth.sessions?batch=1&input=${batchInput([{}, {}])}`,
    headers: { authorization: `Bearer ${accessToken}` },
  },
  { name: 'batched queries, no input', path: '/trpc/user.me,user.me?batch=1', headers: { authorization: `Bearer ${accessToken}` } },
  {
    name: 'mutation failing',
    path: '/trpc/auth.login',
    method: 'POST',
    body: json({ json: { email: 'nobody@example.com', password: 'wrong password' } }),
    headers: { 'content-type': 'application/json' },
  },
  {
    name: 'mixed batch (207)',
    path: '/trpc/auth.logout,auth.logoutAll?batch=1',
    method: 'POST',
    body: json({ 0: { json: { refreshToken: 'not-a-token' } } }),
    headers: { 'content-type': 'application/json' },
  },
  {
    name: 'validation error',
    path: '/trpc/auth.register',
    method: 'POST',
    body: json({ json: { username: 'x', email: 'no', password: 'password' } }),
    headers: { 'content-type': 'application/json' },
  },
  // auth.refresh runs without tRPC's middleware chain in the lean handler (trpc/init.ts directMutation): each way out of it.
  {
    name: 'refresh with a token the server did not issue (a domain error, called directly)',
    path: '/trpc/auth.refresh',
    method: 'POST',
    body: json({ json: { refreshToken: 'not-a-token' } }),
    headers: { 'content-type': 'application/json' },
  },
  {
    name: 'refresh, batched: an input that does not pass beside a domain error',
    path: '/trpc/auth.refresh,auth.refresh?batch=1',
    method: 'POST',
    body: json({ 0: { json: { refreshToken: 42 } }, 1: { json: { refreshToken: 'not-a-token' } } }),
    headers: { 'content-type': 'application/json' },
  },
  { name: 'refresh without input', path: '/trpc/auth.refresh', method: 'POST', body: '', headers: { 'content-type': 'application/json' } },
  {
    name: 'refresh with superjson meta naming an unknown type',
    path: '/trpc/auth.refresh',
    method: 'POST',
    body: json({ json: { refreshToken: 'x' }, meta: { values: { refreshToken: ['custom', 'x'] } } }),
    headers: { 'content-type': 'application/json' },
  },
  {
    name: 'refresh with malformed JSON',
    path: '/trpc/auth.refresh',
    method: 'POST',
    body: '{"json": ',
    headers: { 'content-type': 'application/json' },
  },
  { name: 'malformed JSON', path: '/trpc/auth.login', method: 'POST', body: '{"json": ', headers: { 'content-type': 'application/json' } },
  { name: 'malformed GET input', path: '/trpc/user.me?input=%7Bnope', headers: { authorization: `Bearer ${accessToken}` } },
  { name: 'unknown procedure', path: '/trpc/auth.nope' },
  { name: 'GET to a mutation', path: '/trpc/auth.logout' },
  { name: 'POST to a query', path: '/trpc/user.me', method: 'POST', body: '', headers: { 'content-type': 'application/json' } },
  {
    name: 'too large',
    path: '/trpc/auth.login',
    method: 'POST',
    body: json({ json: { email: 'a@b.c', password: 'x'.repeat(1024 * 1024) } }),
    headers: { 'content-type': 'application/json' },
  },
  {
    name: 'too large, found while reading (a procedure the lean handler answers)',
    path: '/trpc/auth.refresh',
    method: 'POST',
    body: json({ json: { refreshToken: 'x'.repeat(1024 * 1024) } }),
    headers: { 'content-type': 'application/json' },
    chunked: true,
  },
];

function chunks(text: string): ReadableStream<Uint8Array> {
  const bytes = new TextEncoder().encode(text);
  let offset = 0;
  return new ReadableStream({
    pull(controller) {
      if (offset >= bytes.length) return controller.close();
      controller.enqueue(bytes.subarray(offset, offset + 64 * 1024));
      offset += 64 * 1024;
    },
  });
}

const MINTED = new Set([
  'accessToken',
  'refreshToken',
  'id',
  'deviceToken',
  'factorId',
  'secret',
  'otpauthUri',
  'challenge',
  'challengeId',
]);

/**
 * Status, every header but Date, and the body with `replace`'s values (what differs between the
 * two sides by construction: each has its own account) put back to their names.
 */
const FRAMING = new Set(['date', 'content-length', 'transfer-encoding']);

async function answer(app: ServedApp, call: Call, replace: Record<string, string> = {}) {
  const response = await fetch(`${app.url}${call.path}`, {
    method: call.method ?? 'GET',
    // A fixed request id: the server echoes it.
    headers: { 'x-request-id': 'parity', ...call.headers },
    ...(call.body !== undefined && { body: call.chunked ? chunks(call.body) : call.body, duplex: 'half' }),
  } as RequestInit);
  let text = await response.text();
  for (const [name, value] of Object.entries(replace).sort(([, a], [, b]) => b.length - a.length))
    text = text.replaceAll(value, `<${name}>`);
  let body: unknown;
  try {
    // Tokens and ids minted by the call itself (a sign-in's) differ between the sides too.
    body = JSON.parse(text, (key, value) => (MINTED.has(key) && typeof value === 'string' ? `<${key}>` : value));
  } catch {
    body = text;
  }
  // Date changes by the second; the framing (chunked there, Content-Length here) is transport,
  // and the bodies are compared whole.
  const headers = Object.fromEntries([...response.headers].filter(([name]) => !FRAMING.has(name)));
  return { status: response.status, headers, body };
}

describe('the lean tRPC handler answers as the standard adapter does', () => {
  for (const index of CALLS().keys()) {
    it(`${CALLS()[index]?.name}`, async () => {
      const call = CALLS()[index] as Call;
      const [ours, theirs] = [await answer(fast, call), await answer(standard, call)];
      expect(ours).toEqual(theirs);
    });
  }
});

/** Every procedure of the router, each with a valid and an invalid input. */
interface Case {
  /** Needs the account's access token (sent only in the valid call: the invalid one goes without when the input cannot be wrong). */
  authed: boolean;
  /** The account is made an admin first (admin.*). */
  admin?: true;
  valid: (account: Account) => unknown;
  invalid: unknown;
}

interface Account {
  username: string;
  email: string;
  password: string;
  userId: string;
  sessionId: string;
  accessToken: string;
  refreshToken: string;
}

const NEW_PASSWORD = 'another long passphrase, for the parity test';
/** A factor id no account has: the procedures that take one answer FACTOR_NOT_FOUND alike on both sides. */
const NO_FACTOR = '00000000-0000-4000-8000-000000000000';

const CASES: Record<string, Case> = {
  'auth.register': {
    authed: false,
    valid: (a) => ({ username: `n${a.username}`, email: `n${a.email}`, password: a.password }),
    invalid: { username: 'x', email: 'no', password: 'password' },
  },
  'auth.login': { authed: false, valid: (a) => ({ email: a.email, password: a.password }), invalid: { email: 'no' } },
  'auth.refresh': { authed: false, valid: (a) => ({ refreshToken: a.refreshToken }), invalid: { refreshToken: 42 } },
  'auth.logout': { authed: false, valid: (a) => ({ refreshToken: a.refreshToken }), invalid: {} },
  'auth.reauthenticate': { authed: true, valid: (a) => ({ password: a.password }), invalid: { password: 7 } },
  'auth.logoutAll': { authed: true, valid: () => undefined, invalid: undefined },
  'auth.sessions': { authed: true, valid: () => undefined, invalid: undefined },
  'auth.activity': { authed: true, valid: () => ({ limit: 5 }), invalid: { cursor: 'x' } },
  'auth.revokeSession': { authed: true, valid: (a) => ({ sessionId: a.sessionId }), invalid: { sessionId: 'x' } },
  'auth.verifyEmail': { authed: false, valid: () => ({ token: 'not-a-token-we-sent' }), invalid: { token: '' } },
  'auth.resendVerification': { authed: true, valid: () => undefined, invalid: undefined },
  'auth.forgotPassword': { authed: false, valid: (a) => ({ email: a.email }), invalid: { email: 'no' } },
  'auth.resetPassword': { authed: false, valid: () => ({ token: 'not-a-token-we-sent', newPassword: NEW_PASSWORD }), invalid: {} },
  // A fresh account: enrolling answers a new secret (minted, so compared by name), the rest refuse alike.
  'auth.mfa.totp.enroll': { authed: true, valid: () => undefined, invalid: undefined },
  'auth.mfa.totp.confirm': { authed: true, valid: () => ({ factorId: NO_FACTOR, code: '123456' }), invalid: { factorId: 'x' } },
  'auth.mfa.factors': { authed: true, valid: () => undefined, invalid: undefined },
  'auth.mfa.remove': { authed: true, valid: () => ({ factorId: NO_FACTOR }), invalid: { factorId: 7 } },
  'auth.mfa.recoveryCodes.regenerate': { authed: true, valid: () => undefined, invalid: undefined },
  'auth.mfa.verify': { authed: false, valid: () => ({ mfaToken: 'not-a-token-we-sent', code: '123456' }), invalid: { code: '123456' } },
  // A fresh account (a recent proof): the options answer a new challenge and user handle (minted,
  // compared by name); answers that are no credential, and ids of no passkey, refuse alike.
  'auth.passkeys.registrationOptions': { authed: true, valid: () => undefined, invalid: undefined },
  'auth.passkeys.register': { authed: true, valid: () => ({ response: { id: 'x' }, name: 'parity' }), invalid: { name: 7 } },
  'auth.passkeys.list': { authed: true, valid: () => undefined, invalid: undefined },
  'auth.passkeys.rename': { authed: true, valid: () => ({ id: NO_FACTOR, name: 'parity' }), invalid: { id: 'x' } },
  'auth.passkeys.remove': { authed: true, valid: () => ({ id: NO_FACTOR }), invalid: { id: 7 } },
  'auth.passkeys.authenticationOptions': { authed: false, valid: (a) => ({ email: a.email }), invalid: { email: 'no' } },
  'auth.passkeys.authenticate': {
    authed: false,
    valid: () => ({ challengeId: NO_FACTOR, response: { id: 'x' } }),
    invalid: { challengeId: 'x' },
  },
  // No provider is configured: listing answers none, linking refuses the provider, the rest refuse alike.
  'auth.providers': { authed: false, valid: () => undefined, invalid: undefined },
  'auth.exchangeCode': { authed: false, valid: () => ({ code: 'not-a-code-we-sent' }), invalid: { code: '' } },
  'auth.identities.list': { authed: true, valid: () => undefined, invalid: undefined },
  'auth.identities.linkComplete': { authed: true, valid: () => ({ code: 'not-a-link-code' }), invalid: { code: '' } },
  'auth.identities.linkStart': {
    authed: true,
    valid: () => ({ provider: 'nope', redirectTo: 'http://localhost:3000/' }),
    invalid: { provider: 'Not An Id' },
  },
  'auth.identities.unlink': { authed: true, valid: () => ({ identityId: NO_FACTOR }), invalid: { identityId: 'x' } },
  'user.me': { authed: true, valid: () => undefined, invalid: undefined },
  'user.update': { authed: true, valid: () => ({ bio: 'parity' }), invalid: { image: 3 } },
  'user.changePassword': { authed: true, valid: (a) => ({ currentPassword: a.password, newPassword: NEW_PASSWORD }), invalid: {} },
  'admin.users.list': { authed: true, admin: true, valid: (a) => ({ query: a.username }), invalid: { limit: 0 } },
  'admin.users.get': { authed: true, admin: true, valid: (a) => ({ userId: a.userId }), invalid: { userId: 'x' } },
  // Oneself: the refusal (ADMIN_SELF_CHANGE) is the same on both sides.
  'admin.users.disable': { authed: true, admin: true, valid: (a) => ({ userId: a.userId, reason: 'parity' }), invalid: { userId: 'x' } },
  'admin.users.enable': { authed: true, admin: true, valid: (a) => ({ userId: a.userId }), invalid: {} },
  'admin.users.revokeSessions': { authed: true, admin: true, valid: (a) => ({ userId: a.userId }), invalid: { userId: 7 } },
  'admin.users.setRole': { authed: true, admin: true, valid: (a) => ({ userId: a.userId, role: 'admin' }), invalid: { role: 'root' } },
  'admin.events.list': { authed: true, admin: true, valid: (a) => ({ userId: a.userId, limit: 100 }), invalid: { since: 'x' } },
};

let accounts = 0;
/** A fresh account on one side; both sides' accounts differ only in one letter, so that lengths match. */
async function account(app: ServedApp, side: 'a' | 'b', n: number): Promise<Account> {
  const user = { username: `parity${side}${n}`, email: `parity${side}${n}@example.com`, password: 'a long passphrase for parity' };
  const session = await app.caller().auth.register(user);
  const [current] = await app.caller({ accessToken: session.accessToken }).auth.sessions();
  return {
    ...user,
    userId: session.user.id,
    sessionId: current?.id ?? '',
    accessToken: session.accessToken,
    refreshToken: session.refreshToken,
  };
}

function call(path: string, type: 'query' | 'mutation', input: unknown, batched: boolean, accessToken: string | undefined): Call {
  const wire = input === undefined ? undefined : { json: input };
  const headers: Record<string, string> = accessToken ? { authorization: `Bearer ${accessToken}` } : {};
  const query = batched ? '?batch=1' : '';
  const payload = batched ? (wire === undefined ? undefined : { 0: wire }) : wire;
  if (type === 'query') {
    const inputParam = payload === undefined ? '' : `${batched ? '&' : '?'}input=${encodeURIComponent(json(payload))}`;
    return { name: path, path: `/trpc/${path}${query}${inputParam}`, headers };
  }
  return {
    name: path,
    path: `/trpc/${path}${query}`,
    method: 'POST',
    headers: { ...headers, 'content-type': 'application/json' },
    ...(payload !== undefined && { body: json(payload) }),
  };
}

describe('every procedure answers the same through the lean handler and the standard adapter', () => {
  // Flat by full path at run time ('user.me'), though typed as the nested record.
  const procedures = appRouter._def.procedures as unknown as Record<string, { _def: { type: string } }>;

  it('covers every procedure of the router, and lists fast procedures with their real type', () => {
    expect(Object.keys(CASES).sort()).toEqual(Object.keys(procedures).sort());
    for (const [path, type] of Object.entries(FAST_PROCEDURES)) expect(procedures[path]?._def.type, path).toBe(type);
  });

  it('has auth.refresh, and no procedure with middleware of its own, called directly', () => {
    expect(directCallOf(appRouter.auth.refresh)).toBeDefined();
    for (const procedure of [appRouter.auth.logout, appRouter.auth.login, appRouter.user.me])
      expect(directCallOf(procedure)).toBeUndefined();
  });

  for (const path of Object.keys(CASES)) {
    for (const batched of [false, true]) {
      for (const validity of ['valid', 'invalid'] as const) {
        it(`${path}, ${validity} input${batched ? ', batched' : ''}`, async () => {
          const test = CASES[path] as Case;
          const type = procedures[path]?._def.type === 'query' ? 'query' : 'mutation';
          accounts += 1;
          const sides = await Promise.all([account(fast, 'a', accounts), account(standard, 'b', accounts)]);
          if (test.admin)
            await Promise.all([fast.services.admin.grantByEmail(sides[0].email), standard.services.admin.grantByEmail(sides[1].email)]);
          const results = [];
          for (const [app, side] of [
            [fast, sides[0]],
            [standard, sides[1]],
          ] as const) {
            const input = validity === 'valid' ? test.valid(side) : test.invalid;
            const token = test.authed && validity === 'valid' ? side.accessToken : undefined;
            const { userId, sessionId, accessToken, refreshToken, username, email } = side;
            results.push(
              await answer(app, call(path, type, input, batched, token), { userId, sessionId, accessToken, refreshToken, username, email }),
            );
          }
          expect(results[0]).toEqual(results[1]);
        });
      }
    }
  }
});

describe('the lean handler honours the adapter options it shares with the standard one', () => {
  for (const trpcBatching of [{ allowBatching: false }, { maxBatchSize: 1 }]) {
    it(JSON.stringify(trpcBatching), async () => {
      const pair = [
        await servedApp(database, { trpcAdapter: 'fast', trpcBatching }),
        await servedApp(database, { trpcAdapter: 'standard', trpcBatching }),
      ];
      try {
        const batch: Call = { name: 'batch', path: '/trpc/user.me,user.me?batch=1', headers: { authorization: `Bearer ${accessToken}` } };
        const [ours, theirs] = [await answer(pair[0] as ServedApp, batch), await answer(pair[1] as ServedApp, batch)];
        expect(ours.status).toBe(400);
        expect(ours).toEqual(theirs);
      } finally {
        await Promise.all(pair.map((app) => app.close()));
      }
    });
  }
});
