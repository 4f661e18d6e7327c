import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newUser, type ServedApp, servedApp } from './helpers/app.js';
import { migratedTestDatabase, type TestDatabase } from './helpers/database.js';

const APP = 'https://app.example.com';
const ADMIN = 'https://admin.example.com:8443';
const EVIL = 'https://evil.example.net';

let database: TestDatabase;
let app: ServedApp;
let closed: ServedApp;

beforeAll(async () => {
  database = await migratedTestDatabase();
  app = await servedApp(database, { env: { CORS_ORIGINS: `${APP}, ${ADMIN}/` } });
  // CORS_ORIGINS unset: no origin is allowed.
  closed = await servedApp(database);
});
afterAll(async () => {
  await app?.close();
  await closed?.close();
  await database?.close();
});

function preflight(base: string, path: string, origin: string, method = 'POST', headers = 'content-type, authorization') {
  return fetch(`${base}${path}`, {
    method: 'OPTIONS',
    headers: { origin, 'access-control-request-method': method, 'access-control-request-headers': headers },
  });
}

function corsHeaders(response: Response): Record<string, string> {
  return Object.fromEntries([...response.headers].filter(([name]) => name.startsWith('access-control-')));
}

describe('CORS preflight', () => {
  it.each(['/api/users', '/api/user', '/trpc/auth.login', '/trpc/user.me,auth.sessions'])(
    '%s: a listed origin gets 204, echoed, with methods and headers',
    async (path) => {
      const response = await preflight(app.url, path, APP);
      expect(response.status).toBe(204);
      expect(await response.text()).toBe('');
      const headers = corsHeaders(response);
      expect(headers['access-control-allow-origin']).toBe(APP);
      expect(headers['access-control-allow-methods']?.split(/,\s*/)).toEqual(expect.arrayContaining(['GET', 'POST', 'PUT', 'DELETE']));
      expect(headers['access-control-allow-headers']?.split(/,\s*/)).toEqual(
        expect.arrayContaining(['authorization', 'content-type', 'trpc-accept']),
      );
      expect(Number(headers['access-control-max-age'])).toBeGreaterThan(0);
      expect(headers).not.toHaveProperty('access-control-allow-credentials');
      expect(response.headers.get('vary')).toMatch(/\bOrigin\b/);
    },
  );

  it('an origin listed with a port and a trailing slash matches as the browser sends it', async () => {
    const response = await preflight(app.url, '/api/user', ADMIN, 'PUT');
    expect(response.headers.get('access-control-allow-origin')).toBe(ADMIN);
  });

  it('an origin not listed gets no CORS header at all, nor does a look-alike', async () => {
    for (const origin of [EVIL, 'http://app.example.com', 'https://app.example.com.evil.net', 'null']) {
      const response = await preflight(app.url, '/api/users', origin);
      expect(response.status).toBe(204);
      expect(corsHeaders(response)).toEqual({});
    }
  });

  it('without CORS_ORIGINS no origin is allowed', async () => {
    const response = await preflight(closed.url, '/api/users', APP);
    expect(corsHeaders(response)).toEqual({});
  });
});

describe('CORS on answers', () => {
  it('a listed origin is echoed (never *) on success and on errors, with Retry-After readable', async () => {
    const input = newUser();
    const created = await fetch(`${app.url}/api/users`, {
      method: 'POST',
      headers: { origin: APP, 'content-type': 'application/json' },
      body: JSON.stringify({ user: input }),
    });
    expect(created.status).toBe(201);
    expect(created.headers.get('access-control-allow-origin')).toBe(APP);
    expect(created.headers.get('access-control-expose-headers')?.toLowerCase()).toContain('retry-after');
    expect(created.headers.get('vary')).toMatch(/\bOrigin\b/);

    const unauthorized = await fetch(`${app.url}/api/user`, { headers: { origin: APP } });
    expect(unauthorized.status).toBe(401);
    expect(unauthorized.headers.get('access-control-allow-origin')).toBe(APP);

    const notFound = await fetch(`${app.url}/api/nope`, { headers: { origin: ADMIN } });
    expect(notFound.status).toBe(404);
    expect(notFound.headers.get('access-control-allow-origin')).toBe(ADMIN);

    const trpc = await fetch(`${app.url}/trpc/user.me`, { headers: { origin: APP } });
    expect(trpc.status).toBe(401);
    expect(trpc.headers.get('access-control-allow-origin')).toBe(APP);
    // tRPC's own Vary (trpc-accept, accept) keeps Origin beside it.
    expect(trpc.headers.get('vary')).toMatch(/\bOrigin\b/);
  });

  it('another origin gets no CORS header on /api or /trpc (the browser withholds the answer)', async () => {
    for (const path of ['/api/user', '/trpc/user.me']) {
      const response = await fetch(`${app.url}${path}`, { headers: { origin: EVIL } });
      expect(corsHeaders(response)).toEqual({});
      expect(response.headers.get('vary')).toMatch(/\bOrigin\b/);
    }
  });

  it('/health is not a CORS resource', async () => {
    const response = await fetch(`${app.url}/health`, { headers: { origin: APP } });
    expect(corsHeaders(response)).toEqual({});
  });
});
