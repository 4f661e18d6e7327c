/** The machine and the versions a result belongs to. */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, loadavg, release, totalmem, type } from 'node:os';
import { join } from 'node:path';
import { BENCH_DIR, ROOT } from './processes.js';

export interface Machine {
  cpu: string;
  cores: number;
  memoryGb: number;
  os: string;
  /**
   * 1-minute load average just before the run (its own load comes on top): other work on the
   * machine skews every number, both sides alike as they alternate.
   */
  loadBefore: number;
}

export interface Versions {
  node: string;
  database: string;
  /** The commit the server ran from, noting uncommitted changes in apps/server. */
  server: string;
  packages: Record<string, string>;
}

export function machine(loadBefore: number): Machine {
  const list = cpus();
  return {
    loadBefore,
    cpu: list[0]?.model.trim() ?? 'unknown',
    cores: list.length,
    memoryGb: Math.round(totalmem() / 2 ** 30),
    os: `${type()} ${release()}`,
  };
}

function packageVersion(dir: string, name: string): string {
  try {
    return (JSON.parse(readFileSync(join(dir, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/** The commit of the server's code, "+ uncommitted changes" when apps/server differs from it. */
/** The commit the server runs at, and what identifies its code: apps/server's tree and any uncommitted change. */
export interface ServerState {
  label: string;
  code: string;
}

export function serverCommit(): ServerState {
  try {
    const git = (...args: string[]) =>
      execFileSync('git', args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const commit = git('rev-parse', '--short', 'HEAD');
    const changes = git('status', '--porcelain', '--', 'apps/server');
    const code = `${git('rev-parse', 'HEAD:apps/server')}\n${changes}`;
    return { label: changes ? `${commit} + uncommitted changes in apps/server` : commit, code };
  } catch {
    return { label: 'unknown', code: 'unknown' };
  }
}

export function currentLoad(): number {
  return Math.round((loadavg()[0] ?? 0) * 100) / 100;
}

export function pgliteVersion(): string {
  return packageVersion(join(ROOT, 'apps/server'), '@electric-sql/pglite');
}

/** The better-auth that baselines/better-auth.ts runs. */
export function betterAuthVersion(): string {
  return packageVersion(BENCH_DIR, 'better-auth');
}

/** `serverAtStart`: serverCommit() when the server started; the code it loaded then is what ran. */
export function versions(database: string, serverAtStart: ServerState): Versions {
  const now = serverCommit();
  const server = join(ROOT, 'apps/server');
  const serverPackages = ['@trpc/server', 'superjson', 'zod', 'kysely', 'pg', 'jose', '@node-rs/bcrypt', 'pino', 'tsx'];
  return {
    node: process.version,
    database,
    // Commits that leave apps/server as it was (docs, the bench) do not change what ran.
    server:
      now.code === serverAtStart.code
        ? serverAtStart.label
        : `${serverAtStart.label} (apps/server changed during the run: ${now.label} now)`,
    packages: {
      ...Object.fromEntries(serverPackages.map((name) => [name, packageVersion(server, name)])),
      autocannon: packageVersion(BENCH_DIR, 'autocannon'),
      'better-auth': betterAuthVersion(),
    },
  };
}
