import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newUser, type ServedApp, servedApp } from './helpers/app.js';
import { migratedTestDatabase, type TestDatabase } from './helpers/database.js';

/** The lean tRPC handler must answer exactly as tRPC's standard node adapter does. */
let database: TestDatabase;
let fast: ServedApp;
let standard: ServedApp;
let accessToken: string;

beforeAll(async () => {
  database = await migratedTestDatabase();
  fast = await servedApp(database, { trpcAdapter: 'fast' });
  standard = await servedApp(database, { trpcAdapter: 'standard' });
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
];

async function answer(app: ServedApp, call: Call) {
  const response = await fetch(`${app.url}${call.path}`, {
    method: call.method ?? 'GET',
    headers: call.headers ?? {},
    ...(call.body !== undefined && { body: call.body }),
  });
  const text = await response.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = text;
  }
  return { status: response.status, body, retryAfter: response.headers.get('retry-after'), type: response.headers.get('content-type') };
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
