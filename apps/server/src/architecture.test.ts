/**
 * The rooms of the server and the doors between them (docs/architecture.md): every import in
 * src/ is checked against the allowed edges, so a forbidden one fails here, not in review.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SRC = dirname(fileURLToPath(import.meta.url));

/** Which other modules each module may call (through their services, never their repositories). */
const MODULE_EDGES: Record<string, readonly string[]> = {
  user: [],
  throttle: [],
  mail: [],
  audit: [],
  session: ['throttle', 'audit'],
  mfa: ['user', 'session', 'throttle', 'audit'],
  account: ['user', 'session', 'throttle', 'mail', 'audit', 'mfa'],
  admin: ['user', 'session', 'audit', 'account', 'mfa'],
  identity: ['user', 'throttle', 'audit', 'mfa', 'account', 'session'],
};

/** Which rooms each room may import from (a room may always import from itself). */
const ROOM_EDGES: Record<string, readonly string[]> = {
  lib: [],
  'db/migrations': [],
  db: ['config', 'db/migrations'],
  config: ['lib'],
  modules: ['lib', 'db', 'config'],
  trpc: ['lib', 'config', 'app'],
  routers: ['trpc', 'modules'],
  router: ['routers', 'trpc'],
  http: ['lib', 'db', 'config', 'trpc', 'router', 'modules'],
  jobs: ['lib', 'db', 'modules'],
  app: ['lib', 'db', 'config', 'modules', 'trpc'],
  main: ['app', 'config', 'http', 'jobs', 'lib'],
  migrate: ['config', 'db'],
  'admin-grant': ['app', 'config', 'lib', 'modules'],
  'admin-grant-cli': ['admin-grant', 'config'],
  cli: ['admin-grant-cli'],
  testing: ['app', 'config', 'db', 'http', 'lib', 'modules', 'router', 'trpc', 'testing-authenticator'],
  'testing-authenticator': [],
};

interface Edge {
  from: string;
  to: string;
}

/** `modules/session/session.service.ts` -> `modules`; `db/migrations/x.ts` -> `db/migrations`; `app.ts` -> `app`. */
export function roomOf(file: string): string {
  const parts = file.split('/');
  if (parts.length === 1) return (parts[0] ?? '').replace(/\.ts$/, '');
  if (parts[0] === 'db' && parts[1] === 'migrations') return 'db/migrations';
  return parts[0] ?? '';
}

function moduleOf(file: string): string | undefined {
  const parts = file.split('/');
  return parts[0] === 'modules' ? parts[1] : undefined;
}

/** What is wrong with one import, or undefined when it is allowed. */
export function violation({ from, to }: Edge): string | undefined {
  const fromRoom = roomOf(from);
  const toRoom = roomOf(to);
  const fromModule = moduleOf(from);
  const toModule = moduleOf(to);
  if (toModule !== undefined && toModule !== fromModule && to.endsWith('.repository.ts'))
    return `${from} imports another module's repository ${to}: call its service`;
  if (fromModule !== undefined && toModule !== undefined && fromModule !== toModule) {
    if (!(MODULE_EDGES[fromModule] ?? []).includes(toModule))
      return `module ${fromModule} may not import module ${toModule} (${from} -> ${to})`;
    return undefined;
  }
  if (fromRoom === toRoom) return undefined;
  const allowed = ROOM_EDGES[fromRoom];
  if (allowed === undefined) return `${from} is in no known room: add it to ROOM_EDGES and docs/architecture.md`;
  if (!allowed.includes(toRoom)) return `${fromRoom} may not import ${toRoom} (${from} -> ${to})`;
  return undefined;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts') ? [path] : [];
  });
}

/** Every relative import (static, dynamic, type-only, re-export) of every source file, as paths under src/. */
function importEdges(): Edge[] {
  const edges: Edge[] = [];
  const specifier = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)['"](\.{1,2}\/[^'"]+)['"]/g;
  for (const path of sourceFiles(SRC)) {
    const text = readFileSync(path, 'utf8');
    for (const match of text.matchAll(specifier)) {
      const target = resolve(dirname(path), (match[1] ?? '').replace(/\.js$/, '.ts'));
      if (!target.startsWith(SRC)) continue;
      edges.push({ from: relative(SRC, path), to: relative(SRC, target) });
    }
  }
  return edges;
}

describe('dependencies point one way', () => {
  const edges = importEdges();

  it('finds the imports it checks', () => {
    expect(edges.length).toBeGreaterThan(50);
    expect(edges).toContainEqual({ from: 'app.ts', to: 'modules/session/session.service.ts' });
  });

  it('no import crosses a wall', () => {
    expect(edges.map(violation).filter((v) => v !== undefined)).toEqual([]);
  });

  it('the module graph has no cycle', () => {
    const visiting = new Set<string>();
    const done = new Set<string>();
    const visit = (name: string): void => {
      expect(visiting.has(name), `cycle through module ${name}`).toBe(false);
      if (done.has(name)) return;
      visiting.add(name);
      for (const next of MODULE_EDGES[name] ?? []) visit(next);
      visiting.delete(name);
      done.add(name);
    };
    for (const name of Object.keys(MODULE_EDGES)) visit(name);
    const folders = readdirSync(join(SRC, 'modules')).sort();
    expect(folders).toEqual(Object.keys(MODULE_EDGES).sort());
  });

  it('refuses the edges it exists to refuse', () => {
    expect(violation({ from: 'lib/jwt.ts', to: 'modules/session/session.service.ts' })).toMatch(/lib may not import modules/);
    expect(violation({ from: 'lib/jwt.ts', to: 'db/database.ts' })).toMatch(/lib may not import db/);
    expect(violation({ from: 'modules/user/user.service.ts', to: 'modules/account/account.service.ts' })).toMatch(/module user may not/);
    expect(violation({ from: 'modules/account/account.service.ts', to: 'modules/user/user.repository.ts' })).toMatch(/repository/);
    expect(violation({ from: 'modules/session/session.service.ts', to: 'trpc/init.ts' })).toMatch(/modules may not import trpc/);
    expect(violation({ from: 'db/migrations/x.ts', to: 'db/schema.ts' })).toMatch(/may not import db/);
    expect(violation({ from: 'modules/account/account.service.ts', to: 'modules/user/user.service.ts' })).toBeUndefined();
  });
});
