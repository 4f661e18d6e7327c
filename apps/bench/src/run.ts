/** One benchmark: database, server, seed, baselines, scenarios, and everything stopped afterwards. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BETTER_AUTH_SCHEMA, BETTER_AUTH_SECRET } from './better-auth.js';
import { disposeDatabase, prepareDatabase } from './database.js';
import { betterAuthVersion, currentLoad, machine, pgliteVersion, serverCommit, versions } from './environment.js';
import { SessionPool } from './load.js';
import type { Options, ScenarioName } from './options.js';
import { type Child, freePort, startBaseline, startServer } from './processes.js';
import type { Report } from './report.js';
import {
  type BenchContext,
  betterAuth,
  ceiling,
  login,
  meDuringFlood,
  refresh,
  refreshAlgorithms,
  refreshAtScale,
  refreshPreparedBaseline,
  type ScenarioResult,
  userMe,
  userMeAdapters,
  userMeFloor,
} from './scenarios.js';
import { baselineSeed, registerUsers, sessionOf } from './seed.js';
import { evaluateTargets } from './targets.js';

/** Fixed, so that the baselines can verify and derive what the server issues. Never used elsewhere. */
export const JWT_SECRET = 'latchkey-bench-secret-not-for-production-0123456789';
/** Long enough that no token seeded at the start expires during a long run. */
const ACCESS_TOKEN_TTL_SECONDS = 4 * 3600;

type Outcome = ScenarioResult | string;

/** A scenario answers with its result, or with why it did not run; `me` with three, by name. */
const SCENARIOS: Record<ScenarioName, (ctx: BenchContext) => Promise<Outcome | [string, Outcome][]>> = {
  me: async (ctx) => [
    ['me', await userMe(ctx)],
    ['me-floor', await userMeFloor(ctx)],
    ['me-adapter', await userMeAdapters(ctx)],
  ],
  'better-auth': betterAuth,
  refresh: async (ctx) => [
    ['refresh', await refresh(ctx)],
    ['refresh-prepared', await refreshPreparedBaseline(ctx)],
    ['refresh-alg', await refreshAlgorithms(ctx)],
  ],
  login,
  flood: meDuringFlood,
  ceiling,
};

export async function runBenchmark(options: Options, command: string, progress: (message: string) => void): Promise<Report> {
  const started = Date.now();
  const loadBefore = currentLoad();
  const scratch = mkdtempSync(join(tmpdir(), 'latchkey-bench-run-'));
  const database = await prepareDatabase({ embedded: options.embedded, pgliteVersion: pgliteVersion() });
  progress(`database: ${database.description}`);
  const children: Child[] = [];
  // The baselines start with the server (PGlite takes seconds to start); embedded ones get the seed later.
  let seeded: { resolve(path: string): void; reject(error: Error): void } | undefined;
  const seedFile = new Promise<string>((resolve, reject) => {
    seeded = { resolve, reject };
  });
  seedFile.catch(() => undefined);
  const baselineEnv: Record<string, string> = {
    JWT_SECRET,
    // The server's default, which it runs with here: the baselines verify and sign as it does.
    ACCESS_TOKEN_ALG: 'EdDSA',
    ACCESS_TOKEN_TTL_SECONDS: String(ACCESS_TOKEN_TTL_SECONDS),
    ...(database.kind === 'postgres' && { DATABASE_URL: database.url }),
  };
  const embeddedSeed = database.kind === 'embedded' ? seedFile : undefined;
  const track = (child: Child) => {
    children.push(child);
    return child;
  };
  // better-auth migrates its own schema on PostgreSQL while the server starts; it is told its port
  // (and so its base URL) up front, as a deployment would be.
  const betterAuthBaseline =
    database.kind === 'postgres' && options.only.includes('better-auth')
      ? freePort()
          .then((port) =>
            startBaseline('better-auth', {
              PORT: String(port),
              DATABASE_URL: database.url,
              SCHEMA: BETTER_AUTH_SCHEMA,
              BETTER_AUTH_SECRET,
              NODE_ENV: 'production',
            }),
          )
          .then(track)
      : Promise.resolve(undefined);
  const baselines = Promise.all([
    startBaseline('me', baselineEnv, embeddedSeed).then(track),
    startBaseline('floor', baselineEnv, embeddedSeed).then(track),
    startBaseline('refresh', baselineEnv, embeddedSeed).then(track),
    startBaseline('ceiling', {}).then(track),
    betterAuthBaseline,
  ]);
  baselines.catch(() => undefined);
  try {
    const serverAtStart = serverCommit();
    const serverEnv: Record<string, string> = {
      NODE_ENV: 'production',
      JWT_SECRET,
      // The benchmarks send no mail worth delivering.
      MAIL_TRANSPORT: 'file',
      BCRYPT_COST: String(options.bcryptCost),
      LOG_LEVEL: 'warn',
      // Every request comes from 127.0.0.1: per-address throttles must not stand in the way.
      RATE_LIMIT_SCALE: '1000000',
      ACCESS_TOKEN_TTL: String(ACCESS_TOKEN_TTL_SECONDS),
      HOST: '127.0.0.1',
      DATA_DIR: database.kind === 'embedded' ? database.dataDir : join(scratch, 'data'),
      ...(database.kind === 'postgres' && { DATABASE_URL: database.url }),
    };
    const server = await startServer(serverEnv, options.profile);
    children.push(server);
    progress(`Latchkey listening on 127.0.0.1:${server.port} (pid ${server.pid})`);

    progress(`registering ${options.users} accounts at bcrypt cost ${options.bcryptCost}`);
    const users = await registerUsers(`http://127.0.0.1:${server.port}`, options.users, progress);
    progress(`registered ${users.length} accounts`);
    const file = join(scratch, 'seed.json');
    writeFileSync(file, JSON.stringify(baselineSeed(users)));
    seeded?.resolve(file);
    const [me, floor, refreshBaseline, ceilingBaseline, betterAuthServer] = await baselines;
    // Started once the schema is migrated and the accounts exist; PostgreSQL only.
    const standard =
      database.kind === 'postgres' && options.only.includes('me')
        ? track(await startBaseline('latchkey-standard', { ...serverEnv, DATA_DIR: join(scratch, 'data-standard') }))
        : undefined;
    // The same server signing HS256, for the row that puts a price on the choice of algorithm.
    const hs256 =
      database.kind === 'postgres' && options.only.includes('refresh')
        ? track(await startServer({ ...serverEnv, ACCESS_TOKEN_ALG: 'HS256', DATA_DIR: join(scratch, 'data-hs256') }, undefined))
        : undefined;
    // The refresh baseline sending its UPDATE as a named statement, as the server does.
    const refreshPrepared =
      database.kind === 'postgres' && options.only.includes('refresh')
        ? track(await startBaseline('refresh', { ...baselineEnv, BASELINE_PREPARE: '1' }))
        : undefined;
    progress('baselines listening');

    const sessions = new SessionPool(users.map((u) => ({ id: sessionOf(u.refreshToken).sessionId, token: u.refreshToken })));
    const ctx: BenchContext = {
      options,
      database,
      server,
      baselines: {
        me,
        floor,
        refresh: refreshBaseline,
        refreshPrepared,
        ceiling: ceilingBaseline,
        betterAuth: betterAuthServer,
        standard,
        hs256,
      },
      betterAuthVersion: betterAuthVersion(),
      users,
      // On PostgreSQL both sides rotate the same sessions; each embedded side has its own copy.
      pools: { latchkey: sessions, baseline: database.kind === 'postgres' ? sessions : sessions.clone() },
      progress,
    };
    const scenarios: ScenarioResult[] = [];
    const skipped: Record<string, string> = {};
    const add = (name: string, outcome: Outcome) => {
      if (typeof outcome !== 'string') scenarios.push(outcome);
      else {
        skipped[name] = outcome;
        progress(`${name}: ${outcome}`);
      }
    };
    for (const name of options.only) {
      const outcome = await SCENARIOS[name](ctx);
      if (Array.isArray(outcome)) for (const [part, each] of outcome) add(part, each);
      else add(name, outcome);
    }
    if (options.sessionsScale && options.only.includes('refresh')) add('refresh-at-scale', await refreshAtScale(ctx));

    return {
      command,
      date: `${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC`,
      machine: machine(loadBefore),
      versions: versions(database.version, serverAtStart),
      database: database.description,
      settings: {
        duration: options.duration,
        connections: options.connections,
        runs: options.runs,
        warmup: options.warmup,
        bcryptCost: options.bcryptCost,
        users: options.users,
      },
      scenarios,
      targets: evaluateTargets(scenarios, skipped),
      seconds: (Date.now() - started) / 1000,
    };
  } finally {
    seeded?.reject(new Error('the benchmark stopped'));
    await baselines.catch(() => undefined);
    await Promise.all(children.map((child) => child.stop()));
    await disposeDatabase(database);
    rmSync(scratch, { recursive: true, force: true });
    if (options.profile) progress(`the server's CPU profile is in ${options.profile}`);
  }
}
