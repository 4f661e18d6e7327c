import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ed25519KeyPair } from '../src/lib/keys.js';
import { forgedAccessTokens } from './fixtures/forged-access-tokens.js';
import { newUser, type ServedApp, servedApp, TEST_SECRET } from './helpers/app.js';
import { migratedTestDatabase, type TestDatabase } from './helpers/database.js';
import { restClient } from './helpers/rest.js';
import { trpcPost } from './helpers/trpc.js';

const PREVIOUS_SECRET = 'the-secret-before-the-last-rotation-32-bytes';

let database: TestDatabase;
let eddsa: ServedApp;
let hs256: ServedApp;
let rotating: ServedApp;
/** Stands where forged jku/x5u headers point: any request it gets is a fetch the server must never make. */
let elsewhere: Server;
let fetchedElsewhere = 0;

beforeAll(async () => {
  database = await migratedTestDatabase();
  eddsa = await servedApp(database);
  hs256 = await servedApp(database, { env: { ACCESS_TOKEN_ALG: 'HS256' } });
  rotating = await servedApp(database, { env: { JWT_SECRET_PREVIOUS: PREVIOUS_SECRET } });
  elsewhere = createServer((_req, res) => {
    fetchedElsewhere += 1;
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [] }));
  });
  await new Promise<void>((resolve) => elsewhere.listen(0, '127.0.0.1', resolve));
});
afterAll(async () => {
  await eddsa?.close();
  await hs256?.close();
  await rotating?.close();
  await new Promise((resolve) => elsewhere?.close(resolve));
  await database?.close();
});

const jwks = (app: ServedApp, init?: RequestInit) => fetch(`${app.url}/.well-known/jwks.json`, init);

describe('GET /.well-known/jwks.json', () => {
  it('lists the Ed25519 public key JWT_SECRET derives, cacheable publicly for 300 s', async () => {
    const response = await jwks(eddsa);

    expect(response.status).toBe(200);
    expect(response.headers.get('cache-control')).toBe('public, max-age=300');
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await response.json()).toEqual({ keys: [ed25519KeyPair(TEST_SECRET).jwk] });
  });

  it("has exactly the members RFC 8037 and the contract name, and never the private key's d", async () => {
    const { keys } = (await (await jwks(rotating)).json()) as { keys: Record<string, unknown>[] };

    for (const key of keys) expect(Object.keys(key).sort()).toEqual(['alg', 'crv', 'kid', 'kty', 'use', 'x']);
  });

  it('lists the current key first and the previous one while JWT_SECRET_PREVIOUS is set', async () => {
    const body = await (await jwks(rotating)).json();

    expect(body).toEqual({ keys: [ed25519KeyPair(TEST_SECRET).jwk, ed25519KeyPair(PREVIOUS_SECRET).jwk] });
  });

  it('is an empty set with ACCESS_TOKEN_ALG=HS256', async () => {
    const response = await jwks(hs256);

    expect(response.status).toBe(200);
    expect(response.headers.get('cache-control')).toBe('public, max-age=300');
    expect(await response.json()).toEqual({ keys: [] });
  });

  it('answers HEAD, and 405 to other methods', async () => {
    expect((await jwks(eddsa, { method: 'HEAD' })).status).toBe(200);
    const post = await jwks(eddsa, { method: 'POST' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
  });

  it("verifies the server's access tokens with jose's remote JWK Set, no secret involved", async () => {
    const { accessToken, user } = await eddsa.caller().auth.register(newUser('jwks'));

    const { payload } = await jwtVerify(accessToken, createRemoteJWKSet(new URL(`${eddsa.url}/.well-known/jwks.json`)), {
      algorithms: ['EdDSA'],
      typ: 'at+jwt',
      issuer: 'latchkey',
      audience: 'latchkey',
      currentDate: eddsa.clock.now(),
    });

    expect(payload.sub).toBe(user.id);
    expect(decodeProtectedHeader(accessToken).kid).toBe(ed25519KeyPair(TEST_SECRET).jwk.kid);
  });
});

describe('bad access tokens over HTTP: 401 ACCESS_TOKEN_INVALID, never 5xx, never a fetch from the server', () => {
  it.each([
    ['EdDSA', () => eddsa],
    ['HS256', () => hs256],
  ] as const)('%s server, REST and tRPC', async (alg, app) => {
    const cases = await forgedAccessTokens(
      TEST_SECRET,
      app().clock.now(),
      alg,
      `http://127.0.0.1:${(elsewhere.address() as AddressInfo).port}/jwks.json`,
    );
    const call = restClient(app().url);
    for (const { name, token, appCode } of cases) {
      const rest = await call('GET', '/api/user', { token, scheme: 'Bearer' });
      expect(rest.status, name).toBe(401);
      expect(rest.body, name).toMatchObject({ code: appCode });
      const trpc = await fetch(`${app().url}/trpc/user.me`, { headers: { authorization: `Bearer ${token}` } });
      expect(trpc.status, name).toBe(401);
      expect(await trpc.json(), name).toMatchObject({ error: { json: { data: { appCode } } } });
    }
    // A POST through the standard tRPC adapter too (auth.logoutAll is not on the lean path).
    const [jwkHeader] = cases.filter((c) => c.name === 'an embedded jwk of another key' || c.name === 'payload changed after signing');
    const post = await trpcPost(app().url, 'auth.logoutAll', null, { authorization: `Bearer ${jwkHeader?.token}` });
    expect(post.status).toBe(401);
    expect(fetchedElsewhere).toBe(0);
  });

  it('the counting server does count: a fetch there would have been seen', async () => {
    const before = fetchedElsewhere;
    await fetch(`http://127.0.0.1:${(elsewhere.address() as AddressInfo).port}/jwks.json`);
    expect(fetchedElsewhere).toBe(before + 1);
    fetchedElsewhere = before;
  });
});
