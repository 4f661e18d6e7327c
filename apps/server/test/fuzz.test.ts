import { connect } from 'node:net';
import superjson from 'superjson';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { restRoutes } from '../src/http/rest/routes.js';
import { appRouter } from '../src/router.js';
import { newUser, type ServedApp, servedOnBothTrpcPaths } from './helpers/app.js';

/** Every procedure of the router, sent hostile inputs over HTTP on both tRPC paths: never a 5xx. */
const apps = servedOnBothTrpcPaths({ RATE_LIMIT_SCALE: '1000000' });

interface Procedure {
  _def: { type: 'query' | 'mutation' | 'subscription'; inputs: { safeParse?: (value: unknown) => { success: boolean } }[] };
}
// tRPC keeps them flat, by dotted path, whatever the nested type says.
const PROCEDURES = Object.entries(appRouter._def.procedures as unknown as Record<string, Procedure>);

const FIELDS = ['email', 'password', 'username', 'token', 'refreshToken', 'newPassword', 'currentPassword', 'sessionId', 'bio', 'image'];
const HUGE = 'x'.repeat(500 * 1024);

function nested(depth: number): string {
  return `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
}

/** Hostile bodies, as the JSON text sent: superjson's envelope around wrong shapes, and bad envelopes. */
function hostileBodies(): { name: string; text: string }[] {
  const envelope = (input: unknown) => JSON.stringify({ json: input });
  const wrongTypes = [42, 'text', null, true, [], [1, 2], {}, Object.fromEntries(FIELDS.map((f, i) => [f, [i, {}, null][i % 3]]))];
  return [
    ...wrongTypes.map((input) => ({ name: `wrong type ${JSON.stringify(input).slice(0, 40)}`, text: envelope(input) })),
    { name: 'nesting 1000 deep (input)', text: `{"json":${nested(1000)}}` },
    { name: 'nesting 1000 deep (a field)', text: `{"json":{"email":${nested(1000)},"password":${nested(1000)}}}` },
    ...FIELDS.map((field) => ({ name: `500 kB ${field}`, text: envelope({ [field]: HUGE }) })),
    { name: '__proto__ keys', text: `{"json":{"__proto__":{"admin":true,"email":"a@b.c"},"constructor":{"prototype":{"x":1}}}}` },
    { name: '__proto__ envelope', text: '{"__proto__":{"json":{"email":"a@b.c"}}}' },
    ...[
      { values: { email: ['custom', 'x'] } },
      { values: { '__proto__.polluted': ['Date'] } },
      { values: ['set'] },
      { values: { email: 'not a type' } },
      { referentialEqualities: { email: ['__proto__'] } },
      // Beyond lib/wire-json.ts's bound, and a BigInt: refused before superjson spends time on them.
      { values: Object.fromEntries(Array.from({ length: 5000 }, (_, i) => [`k${i}`, ['Date']])) },
      { values: { email: ['bigint'] } },
    ].map((meta) => ({ name: `meta ${JSON.stringify(meta).slice(0, 80)}`, text: JSON.stringify({ json: { email: 'a@b.c' }, meta }) })),
    // PostgreSQL cannot store U+0000: refused by the schemas (or answered 400), never a database error's 500.
    ...[...FIELDS, 'query', 'reason', 'cursor', 'name'].map((field) => ({
      name: `NUL in ${field}`,
      text: envelope({ [field]: 'a\u0000b' }),
    })),
    { name: 'NUL in an image URL', text: envelope({ image: 'https://a.example/\u0000' }) },
    { name: 'not an envelope', text: '[1,2,3]' },
    { name: 'not JSON', text: '{"json": ' },
  ];
}

/** Whether the procedure's own schema takes what the body decodes to: then a 2xx is right. */
function acceptable(procedure: Procedure, text: string): boolean {
  const schema = procedure._def.inputs[0];
  if (!schema) return true;
  let input: unknown;
  try {
    input = superjson.deserialize(JSON.parse(text));
  } catch {
    return false;
  }
  return schema.safeParse?.(input).success ?? false;
}

for (const side of ['fast', 'standard'] as const) {
  describe(`the ${side} tRPC path`, () => {
    it('no hostile input to any procedure of the router answers 5xx; what its schema refuses is 4xx', async () => {
      const app = apps[side] as ServedApp;
      const failures: string[] = [];
      const validated: string[] = [];
      for (const [path, procedure] of PROCEDURES) {
        // A signed-in caller, so that protected procedures get as far as their input.
        const user = newUser('fuzz');
        const { accessToken } = await app.caller().auth.register(user);
        // An admin for admin.*: a user's calls stop at the role check, before the input.
        if (path.startsWith('admin.')) await app.services.admin.grantByEmail(user.email);
        for (const { name, text } of hostileBodies()) {
          const init: RequestInit =
            procedure._def.type === 'query'
              ? { headers: { authorization: `Bearer ${accessToken}` } }
              : {
                  method: 'POST',
                  body: text,
                  headers: { authorization: `Bearer ${accessToken}`, 'content-type': 'application/json' },
                };
          const url =
            procedure._def.type === 'query' ? `${app.url}/trpc/${path}?input=${encodeURIComponent(text)}` : `${app.url}/trpc/${path}`;
          const { status } = await fetch(url, init).then(async (r) => ({ status: r.status, body: await r.text() }));
          const ok = status >= 500 ? false : status >= 400 || acceptable(procedure, text);
          if (!ok) failures.push(`${path} ${name}: ${status}`);
          if (status === 400 && !validated.includes(path)) validated.push(path);
        }
      }
      expect(failures).toEqual([]);
      expect(PROCEDURES.map(([path]) => path)).toEqual(expect.arrayContaining(['auth.register', 'user.me', 'user.changePassword']));
      // The inputs got past authentication to the procedures' validation: each with an input refused some.
      const withInput = PROCEDURES.filter(([, p]) => p._def.inputs.length > 0).map(([path]) => path);
      expect(validated.sort()).toEqual(withInput.sort());
    }, 120_000);
  });
}

/** The status line of a raw HTTP/1.1 request for `target`, sent as is. */
function statusFor(app: ServedApp, target: string): Promise<string> {
  const { hostname, port } = new URL(app.url);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port) }, () => {
      socket.write(`GET ${target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`);
    });
    let text = '';
    socket.on('data', (chunk) => {
      text += chunk.toString('latin1');
    });
    socket.on('end', () => resolve(text.split('\r\n')[0] ?? ''));
    socket.on('error', reject);
  });
}

describe('request targets', () => {
  it('a target that is not a valid URL path answers 4xx, and //host/... is a path, not another host', async () => {
    const app = apps.fast as ServedApp;
    for (const target of ['//', '///', '//@', '//[', '//x:abc/', '//x:abc/api/user', '/%', '/trpc/%zz', '*'])
      expect(await statusFor(app, target), target).toMatch(/^HTTP\/1\.1 4\d\d /);
    // Read as a relative URL, this was host evil.example, path /api/user: routed to the API (401).
    expect(await statusFor(app, '//evil.example/api/user')).toMatch(/^HTTP\/1\.1 404 /);
    expect(await statusFor(app, '/api/user')).toMatch(/^HTTP\/1\.1 401 /);
  });
});

describe('REST', () => {
  it('no hostile body or query to any REST route answers 5xx', async () => {
    const app = apps.fast as ServedApp;
    const bodies = [
      ...hostileBodies().map(({ name, text }) => ({ name, text })),
      // REST bodies carry no envelope: the same shapes under RealWorld's `user`.
      ...FIELDS.map((field) => ({ name: `500 kB user.${field}`, text: JSON.stringify({ user: { [field]: HUGE } }) })),
      { name: 'user nested 1000 deep', text: `{"user":${nested(1000)}}` },
      ...FIELDS.map((field) => ({ name: `NUL in user.${field}`, text: JSON.stringify({ user: { [field]: 'a\u0000b' } }) })),
      { name: 'NUL in user.image URL', text: JSON.stringify({ user: { image: 'https://a.example/\u0000' } }) },
      { name: 'NUL in reason', text: JSON.stringify({ reason: 'a\u0000b' }) },
      { name: 'user wrong types', text: JSON.stringify({ user: Object.fromEntries(FIELDS.map((f, i) => [f, [i, {}, null][i % 3]])) }) },
      { name: '__proto__ user', text: '{"user":{"__proto__":{"admin":true},"email":"a@b.c","password":"x"}}' },
      { name: 'refresh_token wrong types', text: '{"refresh_token":{"__proto__":[1]},"token":[],"new_password":42}' },
    ];
    const failures: string[] = [];
    for (const route of restRoutes) {
      const user = newUser('fuzzrest');
      const { accessToken } = await app.caller().auth.register(user);
      // An admin for /api/admin: a user's requests stop at the role check, before the input.
      if (route.path.startsWith('/api/admin/')) await app.services.admin.grantByEmail(user.email);
      // Each hostile text also as the value of every parameter the route reads.
      const schema = route.input?.schema;
      const params = schema instanceof z.ZodObject ? Object.keys(schema.shape) : [];
      for (const { name, text } of bodies) {
        const values = params.map((param) => `${param}=${encodeURIComponent(text.slice(0, 2000))}`).join('&');
        const headers = { authorization: `Token ${accessToken}`, 'content-type': 'application/json' };
        const response =
          route.input?.from === 'body'
            ? await fetch(`${app.url}${route.path}`, { method: route.method, body: text, headers })
            : await fetch(
                `${app.url}${route.path}?token=${encodeURIComponent(text)}&${encodeURIComponent(text.slice(0, 2000))}=1&${values}`,
                {
                  method: route.method,
                  headers,
                },
              );
        await response.text();
        if (response.status >= 500) failures.push(`${route.method} ${route.path} ${name}: ${response.status}`);
      }
    }
    expect(failures).toEqual([]);
    expect(restRoutes.length).toBeGreaterThan(5);
  }, 120_000);
});
