import { readFile } from 'node:fs/promises';
import { compileErrors, validate } from '@readme/openapi-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { buildOpenApiDocument, type OpenApiDocument, SECURITY_SCHEME } from '../src/http/openapi.js';
import { defineRoute } from '../src/http/rest/route.js';
import { restRoutes } from '../src/http/rest/routes.js';
import { messageResponse } from '../src/http/rest/schemas.js';
import { usernameSchema } from '../src/modules/user/user.schemas.js';
import { type ServedApp, servedApp } from './helpers/app.js';
import { migratedTestDatabase, type TestDatabase } from './helpers/database.js';

let database: TestDatabase;
let app: ServedApp;

beforeAll(async () => {
  database = await migratedTestDatabase();
  app = await servedApp(database, { env: { BASE_URL: 'https://auth.example.com' } });
});
afterAll(async () => {
  await app?.close();
  await database?.close();
});

/** The contract's REST table (shared API.md). */
const CONTRACT_ROUTES = [
  'POST /api/users',
  'POST /api/users/login',
  'GET /api/user',
  'PUT /api/user',
  'POST /api/auth/refresh',
  'POST /api/auth/logout',
  'GET /api/auth/verify-email',
  'POST /api/auth/forgot-password',
  'POST /api/auth/reset-password',
];

/** What the HTTP server serves itself and the document declares by hand: the JWKS, and external sign-in's browser steps. */
const NON_REST_ROUTES = ['GET /.well-known/jwks.json', 'GET /auth/oidc/{provider}/start', 'GET /auth/oidc/{provider}/callback'];

async function expectValid(document: OpenApiDocument) {
  // The parser dereferences in place: give it a copy.
  const result = await validate(structuredClone(document) as Parameters<typeof validate>[0]);
  if (!result.valid) throw new Error(compileErrors(result));
  expect(result.warnings).toEqual([]);
}

async function served(): Promise<OpenApiDocument> {
  const response = await fetch(`${app.url}/openapi.json`);
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^application\/json/);
  return (await response.json()) as OpenApiDocument;
}

describe('GET /openapi.json', () => {
  it('serves an OpenAPI 3.1 document that validates', async () => {
    const document = await served();
    expect(document.openapi).toBe('3.1.0');
    expect(document.servers).toEqual([{ url: 'https://auth.example.com' }]);
    await expectValid(document);
  });

  it('lists every route of the table and of the contract, with an operation id each', async () => {
    const document = await served();
    const listed = Object.entries(document.paths).flatMap(([path, item]) =>
      Object.keys(item).map((method) => `${method.toUpperCase()} ${path}`),
    );
    expect(listed.sort()).toEqual([...restRoutes.map((route) => `${route.method} ${route.path}`), ...NON_REST_ROUTES].sort());
    expect(listed).toEqual(expect.arrayContaining(CONTRACT_ROUTES));
    const ids = Object.values(document.paths).flatMap((item) => Object.values(item).map((operation) => operation.operationId));
    expect(new Set(ids).size).toBe(restRoutes.length + NON_REST_ROUTES.length);
  });

  it('documents GET /.well-known/jwks.json: a public JWK Set of Ed25519 keys, cached for 300 s', async () => {
    const document = await served();
    const operation = document.paths['/.well-known/jwks.json']?.get;
    expect(operation?.security).toBeUndefined();
    expect(operation?.responses['200']).toMatchObject({
      headers: { 'Cache-Control': { schema: { const: 'public, max-age=300' } } },
      content: { 'application/json': { schema: { $ref: '#/components/schemas/JsonWebKeySet' } } },
    });
    expect(document.components.schemas.PublicJwk?.required).toEqual(['kty', 'crv', 'x', 'kid', 'alg', 'use']);
  });

  it('has the bearer scheme (Token mentioned), required exactly on the protected routes', async () => {
    const document = await served();
    const scheme = document.components.securitySchemes[SECURITY_SCHEME];
    expect(scheme).toMatchObject({ type: 'http', scheme: 'bearer', bearerFormat: 'JWT' });
    expect(scheme?.description).toContain('Token <jwt>');
    for (const route of restRoutes) {
      const operation = document.paths[route.path]?.[route.method.toLowerCase()];
      expect(operation?.security, `${route.method} ${route.path}`).toEqual(route.auth ? [{ [SECURITY_SCHEME]: [] }] : undefined);
      if (route.auth) expect(operation?.responses['401']).toEqual({ $ref: '#/components/responses/Unauthorized' });
    }
  });

  it("documents the shapes from the procedures' own schemas, and the error answers", async () => {
    const document = await served();
    const { schemas, responses } = document.components;
    const register = schemas.RegisterRequest;
    const user = register?.properties?.user;
    expect(typeof user === 'object' && user.required).toEqual(['username', 'email', 'password']);
    // Generated, not retyped: the username rule is zod's rendering of the schema auth.register uses.
    const { $schema: _dialect, ...username } = z.toJSONSchema(usernameSchema, { io: 'input' });
    expect(typeof user === 'object' && user.properties?.username).toEqual(username);
    expect(schemas.UserJson?.required).toEqual(['email', 'username', 'bio', 'image', 'email_verified', 'pending_email', 'token']);
    expect(schemas.SessionResponse?.properties?.user).toEqual({ $ref: '#/components/schemas/UserJson' });
    expect(schemas.TokensResponse?.required).toEqual(['access_token', 'refresh_token']);
    expect(responses.TooManyRequests?.headers?.['Retry-After']).toBeDefined();
    const put = document.paths['/api/user']?.put;
    expect(Object.keys(put?.responses ?? {})).toEqual(['200', '400', '401', '403', '409', '413', '415', '422', '429', '500']);
    expect(put?.description).toContain('current_password');
    expect(document.paths['/api/users']?.post?.responses['201']).toMatchObject({
      content: { 'application/json': { schema: { $ref: '#/components/schemas/SessionResponse' } } },
    });
  });

  it('is the document that was assembled by hand before zod-openapi generated it (test/fixtures/openapi.json)', async () => {
    // Compared as JSON values: key order (which generators choose freely) does not count, array
    // order does. A deliberate change of the API rewrites the fixture from GET /openapi.json, and
    // its diff shows the change in review.
    const fixture: unknown = JSON.parse(await readFile(new URL('fixtures/openapi.json', import.meta.url), 'utf8'));
    expect(await served()).toEqual(fixture);
  });

  it('is refused for other methods', async () => {
    const response = await fetch(`${app.url}/openapi.json`, { method: 'POST' });
    expect(response.status).toBe(405);
    expect(response.headers.get('allow')).toBe('GET, HEAD');
  });
});

describe('buildOpenApiDocument', () => {
  it('turns a query input into parameters and still validates (the shape of GET /api/auth/verify-email)', async () => {
    const verify = defineRoute({
      method: 'GET',
      path: '/api/auth/verify-email',
      operationId: 'verifyEmail',
      summary: 'Verify an email address',
      tag: 'auth',
      auth: false,
      input: { from: 'query', name: 'VerifyEmailQuery', schema: z.object({ token: z.string().min(1) }) },
      success: { status: 200, description: 'Verified', name: 'MessageResponse', schema: messageResponse },
      errors: [404, 410],
      handle: async () => ({ message: 'ok' }),
    });
    const document = buildOpenApiDocument(
      [...restRoutes.filter((r) => r.operationId !== 'logout' && r.operationId !== 'verifyEmail'), verify],
      {
        serverUrl: 'http://x',
      },
    );
    await expectValid(document);
    const operation = document.paths['/api/auth/verify-email']?.get;
    expect(operation?.parameters).toEqual([{ name: 'token', in: 'query', required: true, schema: { type: 'string', minLength: 1 } }]);
    expect(Object.keys(operation?.responses ?? {})).toEqual(['200', '404', '410', '422', '500']);
  });

  it('refuses two schemas under one name', () => {
    const clash = defineRoute({
      method: 'GET',
      path: '/api/clash',
      operationId: 'clash',
      summary: 'Clash',
      tag: 'test',
      auth: false,
      success: { status: 200, description: 'x', name: 'UserResponse', schema: z.object({ other: z.string() }) },
      handle: async () => ({ other: 'x' }),
    });
    expect(() => buildOpenApiDocument([...restRoutes, clash], { serverUrl: 'http://x' })).toThrow(
      /two different schemas are named UserResponse/,
    );
  });
});
