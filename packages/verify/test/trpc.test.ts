import type { AddressInfo } from 'node:net';
import { migratedTestDatabase, newUser, type ServedApp, servedApp, type TestDatabase } from '@latchkey/server/testing';
import { createTRPCClient, httpLink, TRPCClientError } from '@trpc/client';
import { initTRPC, TRPCError } from '@trpc/server';
import { createHTTPServer } from '@trpc/server/adapters/standalone';
import superjson from 'superjson';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createVerifier, type Verifier, VerifyError } from '../src/index.js';
import { verifiedMiddleware } from '../src/trpc.js';

let database: TestDatabase;
let app: ServedApp;
let verifier: Verifier;

beforeAll(async () => {
  database = await migratedTestDatabase();
  // The server signs EdDSA (the default): the verifier needs only its public keys.
  app = await servedApp(database);
  verifier = createVerifier({ jwksUrl: `${app.url}/.well-known/jwks.json`, now: () => app.clock.now() });
});
afterAll(async () => {
  await verifier?.close();
  await app?.close();
  await database?.close();
});

describe('with a context that holds the header itself', () => {
  // A service's own tRPC, unrelated to the server's: its context, its transformer.
  const t = initTRPC.context<{ authorization?: string; tenant: string }>().create({ transformer: superjson });
  const router = () =>
    t.router({
      whoami: t.procedure
        .use(verifiedMiddleware(verifier, { authorization: (ctx) => ctx.authorization }))
        .query(({ ctx }) => ({ ...ctx.auth, tenant: ctx.tenant })),
      open: t.procedure.query(() => 'no token needed'),
    });
  const call = (authorization?: string) => t.createCallerFactory(router())({ authorization, tenant: 'acme' });

  it('puts the user and session of a server-issued token on ctx.auth, keeping the rest of the context', async () => {
    const session = await app.caller().auth.register(newUser());
    const me = await call(`Bearer ${session.accessToken}`).whoami();
    expect(me).toEqual({ userId: session.user.id, sessionId: expect.stringMatching(/^[0-9a-f-]{36}$/), tenant: 'acme' });
  });

  it('throws UNAUTHORIZED with the VerifyError, and its code, as the cause', async () => {
    const session = await app.caller().auth.register(newUser());
    const cases: [string | undefined, string][] = [
      [undefined, 'ACCESS_TOKEN_MISSING'],
      ['Bearer not-a-jwt', 'ACCESS_TOKEN_INVALID'],
      [`Bearer ${session.accessToken.slice(0, -4)}AAAA`, 'ACCESS_TOKEN_INVALID'],
    ];
    for (const [authorization, code] of cases) {
      const error = await call(authorization)
        .whoami()
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(TRPCError);
      expect(error).toMatchObject({ code: 'UNAUTHORIZED' });
      expect((error as TRPCError).cause).toBeInstanceOf(VerifyError);
      expect((error as TRPCError).cause).toMatchObject({ code });
    }
    await expect(call(undefined).open()).resolves.toBe('no token needed');
  });

  it('fails closed with INTERNAL_SERVER_ERROR when the revocation check cannot be made', async () => {
    const session = await app.caller().auth.register(newUser());
    // Nothing listens on port 1: every lookup of the session fails.
    const broken = createVerifier({
      jwksUrl: `${app.url}/.well-known/jwks.json`,
      now: () => app.clock.now(),
      revocation: { postgresUrl: 'postgres://nobody@127.0.0.1:1/none' },
    });
    try {
      const procedure = t.procedure
        .use(verifiedMiddleware(broken, { authorization: (ctx) => ctx.authorization }))
        .query(() => 'let through');
      const caller = t.createCallerFactory(t.router({ procedure }))({ authorization: `Bearer ${session.accessToken}`, tenant: 'acme' });
      await expect(caller.procedure()).rejects.toMatchObject({ code: 'INTERNAL_SERVER_ERROR' });
    } finally {
      await broken.close();
    }
  });

  it('refuses a token once it has expired', async () => {
    const session = await app.caller().auth.register(newUser());
    app.clock.advance(15 * 60 + 6);
    await expect(call(`Token ${session.accessToken}`).whoami()).rejects.toMatchObject({ cause: { code: 'ACCESS_TOKEN_EXPIRED' } });
  });
});

describe('behind the standalone HTTP adapter, reading ctx.req by default', () => {
  const t = initTRPC.context<{ req: { headers: Record<string, string | string[] | undefined> } }>().create({
    // How a service hands the verifier's code to its clients, as the server does with `appCode`.
    errorFormatter: ({ shape, error }) => ({
      ...shape,
      data: { ...shape.data, ...(error.cause instanceof VerifyError && { appCode: error.cause.code }) },
    }),
  });
  const routerOf = (v: Verifier) => t.router({ whoami: t.procedure.use(verifiedMiddleware(v)).query(({ ctx }) => ctx.auth) });
  type AppRouter = ReturnType<typeof routerOf>;
  let server: ReturnType<typeof createHTTPServer>;
  let url: string;

  beforeAll(async () => {
    server = createHTTPServer({ router: routerOf(verifier), createContext: ({ req }) => ({ req }) });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((resolve) => server?.close(resolve));
  });

  const client = (authorization?: string) =>
    createTRPCClient<AppRouter>({
      links: [httpLink({ url, headers: () => (authorization ? { authorization } : {}) })],
    });

  it('lets a server-issued token through and answers 401 with the code otherwise', async () => {
    const session = await app.caller().auth.register(newUser());
    await expect(client(`Bearer ${session.accessToken}`).whoami.query()).resolves.toMatchObject({ userId: session.user.id });
    const error = await client()
      .whoami.query()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TRPCClientError);
    expect((error as TRPCClientError<AppRouter>).data).toMatchObject({
      code: 'UNAUTHORIZED',
      httpStatus: 401,
      appCode: 'ACCESS_TOKEN_MISSING',
    });
  });
});
