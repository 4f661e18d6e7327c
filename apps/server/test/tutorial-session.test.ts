/**
 * The curl session of the tutorial ("Testing the Complete Flow"), step by step over HTTP, with the
 * server's clock moved past the access token's 15 minutes instead of waiting for them.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { sessionResponse, tokensResponse, userResponse } from '../src/http/rest/schemas.js';
import { type ServedApp, servedApp } from './helpers/app.js';
import { migratedTestDatabase, type TestDatabase } from './helpers/database.js';
import { restClient } from './helpers/rest.js';

let database: TestDatabase;
let app: ServedApp;

beforeAll(async () => {
  database = await migratedTestDatabase();
  app = await servedApp(database);
});
afterAll(async () => {
  await app?.close();
  await database?.close();
});

it('register, login, GET /api/user with `Token`, expire the access token, refresh, use the new token', async () => {
  const curl = restClient(app.url);
  const sam = { username: 'sam', email: 'sam@test.com', password: 'passwordnew and then some' };
  const profile = { email: sam.email, username: sam.username, bio: null, image: null, email_verified: false, pending_email: null };

  // POST /api/users
  const registered = await curl('POST', '/api/users', { json: { user: sam } });
  expect(registered.status).toBe(201);
  expect(sessionResponse.parse(registered.body).user).toMatchObject(profile);

  // Test 1: log in and get both tokens.
  const login = await curl('POST', '/api/users/login', { json: { user: { email: sam.email, password: sam.password } } });
  expect(login.status).toBe(200);
  const { access_token, refresh_token, user } = sessionResponse.parse(login.body);
  expect(user).toEqual({ ...profile, token: access_token });

  // Test 2: use the access token, with the tutorial's `Token` scheme.
  const me = await curl('GET', '/api/user', { token: access_token, scheme: 'Token' });
  expect(me.status).toBe(200);
  expect(userResponse.parse(me.body)).toEqual({ user: { ...profile, token: access_token } });

  // Test 3: the access token expires after 15 minutes, and is refused with 401.
  app.clock.advance(16 * 60);
  const expired = await curl('GET', '/api/user', { token: access_token, scheme: 'Token' });
  expect(expired.status).toBe(401);
  expect(expired.body).toEqual({ errors: { token: ['has expired'] }, code: 'ACCESS_TOKEN_EXPIRED' });

  // Test 4: refresh. Unlike the tutorial's lesson, the refresh token rotates, so a new one comes back too.
  const refreshed = await curl('POST', '/api/auth/refresh', { json: { refresh_token } });
  expect(refreshed.status).toBe(200);
  const tokens = tokensResponse.parse(refreshed.body);
  expect(tokens.access_token).not.toBe(access_token);
  expect(tokens.refresh_token).not.toBe(refresh_token);

  // Test 5: the new access token works.
  const again = await curl('GET', '/api/user', { token: tokens.access_token, scheme: 'Token' });
  expect(again.status).toBe(200);
  expect(userResponse.parse(again.body)).toEqual({ user: { ...profile, token: tokens.access_token } });

  // And the next lesson's logout ends it all.
  expect((await curl('POST', '/api/auth/logout', { json: { refresh_token: tokens.refresh_token } })).status).toBe(200);
  expect((await curl('GET', '/api/user', { token: tokens.access_token })).status).toBe(401);
  expect((await curl('POST', '/api/auth/refresh', { json: { refresh_token: tokens.refresh_token } })).status).toBe(401);
});
