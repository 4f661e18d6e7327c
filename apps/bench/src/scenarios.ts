/**
 * The scenarios of issue 8, each measured on Latchkey and on its baseline in alternation
 * (A B A B ...), so that whatever drifts during a run (heat, the database's caches) weighs on both.
 */
import { BETTER_AUTH_SCHEMA, signUpBetterAuth, unansweredSessions } from './better-auth.js';
import { type BenchDatabase, countSessions, growSessions } from './database.js';
import { bearerPerConnection, headersPerConnection, type Load, rotatingBodies, run, type Sample, type SessionPool } from './load.js';
import type { Options } from './options.js';
import { type Child, prepareBcrypt } from './processes.js';
import { mutation, PASSWORD, type SeededUser } from './seed.js';
import { formatNumber as format, type Summary, summarize } from './stats.js';

export interface ScenarioResult {
  name: string;
  title: string;
  /** What Latchkey was asked, as an HTTP request. */
  request: string;
  baselineLabel: string;
  /** How the baseline's rows are labelled in the tables (default "baseline"). */
  baselineName?: string;
  /** Rows in the sessions table while it ran (refresh scenarios). */
  sessions?: number;
  latchkey: Summary | undefined;
  baseline: Summary | undefined;
  /** Median req/s of Latchkey over its baseline's. */
  ratio: number | undefined;
  notes: string[];
}

export interface BenchContext {
  options: Options;
  database: BenchDatabase;
  server: Child;
  /** betterAuth: started on PostgreSQL only, when its scenario is to run. */
  baselines: {
    me: Child;
    floor: Child;
    refresh: Child;
    ceiling: Child;
    betterAuth: Child | undefined;
    /** The server with tRPC's own adapter only: started on PostgreSQL, when `me` is to run. */
    standard: Child | undefined;
    /** The refresh baseline with its UPDATE as a named statement (BASELINE_PREPARE=1): PostgreSQL, with `refresh`. */
    refreshPrepared: Child | undefined;
    /** The server with ACCESS_TOKEN_ALG=HS256: started on PostgreSQL, when `refresh` is to run. */
    hs256: Child | undefined;
  };
  /** The better-auth version installed here, which baselines/better-auth.ts runs. */
  betterAuthVersion: string;
  users: readonly SeededUser[];
  /** The same pool when server and baselines share PostgreSQL; separate copies on PGlite. */
  pools: { latchkey: SessionPool; baseline: SessionPool };
  progress(message: string): void;
}

interface Side {
  measure(seconds: number): Promise<Sample>;
  /** Whether to load it, unmeasured, for --warmup seconds before its first run. */
  warm?: boolean;
  /** After every run (and warm-up): settle what the run left in flight. */
  after?(): Promise<void>;
}

const url = (child: Child, path: string) => `http://127.0.0.1:${child.port}${path}`;

async function alternate(ctx: BenchContext, name: string, latchkey: Side | undefined, baseline: Side | undefined) {
  const { runs, warmup, duration } = ctx.options;
  const samples = { latchkey: [] as Sample[], baseline: [] as Sample[] };
  const sides = [
    ['latchkey', latchkey],
    ['baseline', baseline],
  ] as const;
  for (let i = 0; i < runs; i += 1) {
    for (const [which, side] of sides) {
      if (!side) continue;
      if (i === 0 && warmup > 0 && side.warm) {
        await side.measure(warmup);
        await side.after?.();
      }
      ctx.progress(`${name}: ${which} run ${i + 1} of ${runs}`);
      const sample = await side.measure(duration);
      // Each run's rate, so that one slow run among several shows in the log.
      const refused = sample.non2xx + sample.errors + sample.timeouts;
      ctx.progress(
        `${name}: ${which} run ${i + 1} of ${runs}: ${format(sample.rps)} req/s` +
          (refused ? ` (and ${sample.non2xx} non-2xx, ${sample.errors} errors, ${sample.timeouts} timeouts)` : ''),
      );
      await side.after?.();
      samples[which].push(sample);
    }
  }
  return {
    latchkey: latchkey ? summarize(samples.latchkey) : undefined,
    baseline: baseline ? summarize(samples.baseline) : undefined,
  };
}

function result(
  fields: Omit<ScenarioResult, 'ratio' | 'latchkey' | 'baseline'>,
  summaries: { latchkey: Summary | undefined; baseline: Summary | undefined },
): ScenarioResult {
  const { latchkey, baseline } = summaries;
  const ratio = latchkey && baseline && baseline.rps.median > 0 ? latchkey.rps.median / baseline.rps.median : undefined;
  return { ...fields, latchkey, baseline, ratio };
}

function loginBodies(users: readonly SeededUser[]): string[] {
  return users.map((u) => JSON.stringify({ json: { email: u.email, password: PASSWORD } }));
}

/**
 * Waits until the server has hashed what a login run left queued: a login answered now was
 * queued behind all of them. Without this the next run would share the CPU with leftovers.
 */
async function drainLogins(ctx: BenchContext): Promise<void> {
  const user = ctx.users[0];
  if (!user) return;
  try {
    await mutation(url(ctx.server, ''), 'auth.login', { email: user.email, password: PASSWORD }, 300_000);
  } catch (error) {
    ctx.progress(`warning: the login that waits for the queue to drain failed (${error instanceof Error ? error.message : String(error)})`);
  }
}

function meLoad(ctx: BenchContext, target: Child, seconds: number): Load {
  return {
    url: url(target, '/trpc/user.me'),
    connections: ctx.options.connections,
    seconds,
    setupClient: bearerPerConnection(ctx.users.map((u) => u.accessToken)),
  };
}

function loginLoad(ctx: BenchContext, seconds: number): Load {
  return {
    url: url(ctx.server, '/trpc/auth.login'),
    connections: ctx.options.connections,
    seconds,
    // Answers wait in bcrypt's queue: connections / (hashes per second) seconds, and more.
    timeout: 300,
    // Every login is for the next account, so that no account's failure back-off is ever reached.
    requests: rotatingBodies('/trpc/auth.login', loginBodies(ctx.users)),
  };
}

function bcryptSample(r: { ok: number; rps: number; p50: number; p99: number }): Sample {
  return { rps: r.rps, p50: r.p50, p99: r.p99, ok: r.ok, non2xx: 0, errors: 0, timeouts: 0 };
}

export async function userMe(ctx: BenchContext): Promise<ScenarioResult> {
  const side = (target: Child): Side => ({ measure: (s) => run(meLoad(ctx, target, s)), warm: true });
  return result(
    {
      name: 'me',
      title: 'user.me with a valid access token',
      request: 'GET /trpc/user.me, Authorization: Bearer <access token> (one user per connection)',
      baselineLabel: 'node:http + jose jwtVerify + 1 pg query',
      notes: [],
    },
    await alternate(ctx, 'user.me', side(ctx.server), side(ctx.baselines.me)),
  );
}

/** user.me beside the floor: the same query, no token verification, no framework (issue 12, item 4). */
export async function userMeFloor(ctx: BenchContext): Promise<ScenarioResult> {
  const side = (target: Child): Side => ({ measure: (s) => run(meLoad(ctx, target, s)), warm: true });
  return result(
    {
      name: 'me-floor',
      title: 'user.me beside the floor (no token verification at all)',
      request: 'GET /trpc/user.me as above; the floor reads the user id from the token unverified',
      baselineLabel: 'node:http + the same 1 pg query, no token verification, no framework',
      baselineName: 'floor',
      notes: [],
    },
    await alternate(ctx, 'user.me beside the floor', side(ctx.server), side(ctx.baselines.floor)),
  );
}

/**
 * The server's lean tRPC handler (the real server) beside the same server with tRPC's own
 * nodeHTTPRequestHandler only: what the lean handler buys on user.me (issue 12, item 4).
 */
export async function userMeAdapters(ctx: BenchContext): Promise<ScenarioResult | string> {
  const standard = ctx.baselines.standard;
  if (!standard) return "not run: needs PostgreSQL (the second server shares the first one's database)";
  const side = (target: Child): Side => ({ measure: (s) => run(meLoad(ctx, target, s)), warm: true });
  return result(
    {
      name: 'me-adapter',
      title: "user.me through the lean tRPC handler beside tRPC's nodeHTTPRequestHandler",
      request: 'GET /trpc/user.me as above, to two Latchkey servers on the same database',
      baselineLabel: "the same server with trpcAdapter 'standard' (tRPC's nodeHTTPRequestHandler only)",
      baselineName: 'tRPC adapter',
      notes: [],
    },
    await alternate(ctx, 'user.me, lean handler vs tRPC adapter', side(ctx.server), side(standard)),
  );
}

/**
 * Latchkey's user.me beside better-auth's get-session, both on the same PostgreSQL (issue 8's
 * "user.me >= 5 x better-auth's get-session"). On the embedded database it is not run: an embedded
 * PGlite belongs to one process, and better-auth on a PGlite of its own is not that comparison.
 */
export async function betterAuth(ctx: BenchContext): Promise<ScenarioResult | string> {
  const target = ctx.baselines.betterAuth;
  if (ctx.database.kind !== 'postgres' || !target)
    return 'not run: needs PostgreSQL (better-auth on embedded PGlite is not the comparison)';
  const base = url(target, '');
  ctx.progress(`signing up ${ctx.users.length} accounts on better-auth`);
  const users = await signUpBetterAuth(base, ctx.users, ctx.progress);
  const refusedBefore = await unansweredSessions(base, users);
  if (refusedBefore) throw new Error(`better-auth get-session did not find the session of ${refusedBefore} freshly signed-up accounts`);
  const latchkey: Side = { measure: (s) => run(meLoad(ctx, ctx.server, s)), warm: true };
  const baseline: Side = {
    measure: (s) =>
      run({
        url: url(target, '/api/auth/get-session'),
        connections: ctx.options.connections,
        seconds: s,
        setupClient: headersPerConnection(users.map((u) => ({ cookie: u.cookie }))),
      }),
    warm: true,
  };
  const summaries = await alternate(ctx, 'better-auth', latchkey, baseline);
  const notes = [
    `better-auth ${ctx.betterAuthVersion} with its default session settings: no cookie cache, no secondary storage, so each ` +
      'get-session checks the signed cookie, then reads the session by token and its user by id from PostgreSQL (2 queries)',
    `its own schema ${BETTER_AUTH_SCHEMA}, created and migrated by better-auth's getMigrations; pg Pool of 10 as the server's; ` +
      "NODE_ENV=production; its rate limiter off, as Latchkey's throttles are scaled away (all requests come from 127.0.0.1)",
  ];
  // get-session answers 200 with `null` for a session it does not find: make sure none did.
  const refusedAfter = await unansweredSessions(base, users);
  if (refusedAfter) notes.push(`${refusedAfter} sessions were no longer found after the runs: better-auth's req/s may count null answers`);
  return result(
    {
      name: 'better-auth',
      title: `user.me beside better-auth ${ctx.betterAuthVersion} get-session, same PostgreSQL`,
      request:
        'GET /trpc/user.me, Authorization: Bearer <access token>; better-auth: GET /api/auth/get-session, Cookie: <its session cookie> (one user per connection each)',
      baselineLabel: 'better-auth get-session (email and password, default settings) through toNodeHandler on node:http',
      baselineName: 'better-auth',
      notes,
    },
    summaries,
  );
}

/** Refreshes to `target`, each with the current token of a session of `pool`, warmed up, settled after each run. */
function refreshSide(ctx: BenchContext, target: Child, pool: SessionPool): Side {
  return {
    measure: (s) =>
      run({
        url: url(target, '/trpc/auth.refresh'),
        connections: ctx.options.connections,
        seconds: s,
        requests: pool.requests('/trpc/auth.refresh'),
      }),
    warm: true,
    after: () => pool.recover(url(target, '/trpc/auth.refresh')),
  };
}

/**
 * On PostgreSQL the table is first filled to `rows` sessions (1,000 by default, for the comparison
 * with 1,000,000); the embedded database holds the seeded sessions only.
 */
export async function refresh(ctx: BenchContext, rows = 1_000, name = 'refresh'): Promise<ScenarioResult> {
  const { database } = ctx;
  const notes: string[] = [];
  let inTable: number;
  if (database.kind === 'postgres') {
    await growSessions(database.url, rows, ctx.progress);
    inTable = await countSessions(database.url);
  } else {
    inTable = ctx.users.length;
  }
  const side = (target: Child, pool: SessionPool) => refreshSide(ctx, target, pool);
  const summaries = await alternate(ctx, name, side(ctx.server, ctx.pools.latchkey), side(ctx.baselines.refresh, ctx.pools.baseline));
  const dropped = ctx.pools.latchkey.dropped + (ctx.pools.baseline === ctx.pools.latchkey ? 0 : ctx.pools.baseline.dropped);
  if (dropped) notes.push(`${dropped} sessions refused after a run and left out of later requests`);
  return result(
    {
      name,
      title: `auth.refresh, ${format(inTable)} sessions in the table`,
      request: 'POST /trpc/auth.refresh {"json":{"refreshToken":...}}, each request the current token of a different session',
      baselineLabel: 'node:http + the same UPDATE ... RETURNING + 1 jose sign',
      sessions: inTable,
      notes,
    },
    summaries,
  );
}

/**
 * auth.refresh on the server beside another refresh endpoint on the same database and sessions,
 * alternating; undefined `other` (started on PostgreSQL only) answers why it did not run.
 */
async function refreshBeside(
  ctx: BenchContext,
  other: Child | undefined,
  fields: Pick<ScenarioResult, 'name' | 'title' | 'request' | 'baselineLabel' | 'baselineName'>,
): Promise<ScenarioResult | string> {
  if (!other) return "not run: needs PostgreSQL (the second side shares the server's database)";
  const pool = ctx.pools.latchkey;
  const summaries = await alternate(ctx, fields.name, refreshSide(ctx, ctx.server, pool), refreshSide(ctx, other, pool));
  return result(
    { ...fields, notes: pool.dropped ? [`${pool.dropped} sessions refused after a run and left out of later requests`] : [] },
    summaries,
  );
}

/**
 * auth.refresh beside the refresh baseline sending its UPDATE as a named statement, as the server
 * does (the target's baseline sends it unnamed, as a minimal server would): what is left when
 * both do exactly the same database work, i.e. the framework's own cost.
 */
export function refreshPreparedBaseline(ctx: BenchContext): Promise<ScenarioResult | string> {
  return refreshBeside(ctx, ctx.baselines.refreshPrepared, {
    name: 'refresh-prepared',
    title: 'auth.refresh beside the refresh baseline with its UPDATE prepared, as the server prepares it',
    request: 'POST /trpc/auth.refresh as above',
    baselineLabel: 'node:http + the same UPDATE ... RETURNING as a named (prepared) statement + 1 jose sign',
    baselineName: 'prepared',
  });
}

/**
 * auth.refresh on the server as it runs by default (EdDSA) beside the same server signing HS256,
 * on the same database and sessions: what the asymmetric signature costs on the path that signs.
 */
export function refreshAlgorithms(ctx: BenchContext): Promise<ScenarioResult | string> {
  return refreshBeside(ctx, ctx.baselines.hs256, {
    name: 'refresh-alg',
    title: 'auth.refresh signing EdDSA (the default) beside the same server signing HS256',
    request: 'POST /trpc/auth.refresh as above, to two Latchkey servers on the same database',
    baselineLabel: 'the same server with ACCESS_TOKEN_ALG=HS256 (node:crypto HMAC instead of node:crypto Ed25519)',
    baselineName: 'HS256',
  });
}

export async function login(ctx: BenchContext): Promise<ScenarioResult> {
  const { options } = ctx;
  const latchkey: Side = { measure: (s) => run(loginLoad(ctx, s)), after: () => drainLogins(ctx) };
  const baseline: Side = {
    measure: async (s) => bcryptSample(await (await prepareBcrypt(options.bcryptCost, options.connections, s)).go()),
  };
  const summaries = await alternate(ctx, 'auth.login', latchkey, baseline);
  const notes: string[] = [];
  const rate = summaries.latchkey?.rps.median ?? 0;
  if (rate > 0 && options.connections / rate > options.duration / 2) {
    notes.push(
      `latencies are those of the answers that came within the run: ${options.connections} logins queued behind ` +
        `${format(rate)} hashes/s wait about ${format(options.connections / rate)} s, so req/s is the measure here`,
    );
  }
  return result(
    {
      name: 'login',
      title: `auth.login at bcrypt cost ${options.bcryptCost}`,
      request: 'POST /trpc/auth.login {"json":{"email","password"}} (rotating through the accounts)',
      baselineLabel: `raw @node-rs/bcrypt verify, cost ${options.bcryptCost}, ${options.connections} at once, no HTTP`,
      notes,
    },
    summaries,
  );
}

export async function meDuringFlood(ctx: BenchContext): Promise<ScenarioResult> {
  const { options } = ctx;
  const floods: number[] = [];
  const latchkey: Side = {
    async measure(s) {
      const [me, logins] = await Promise.all([run(meLoad(ctx, ctx.server, s)), run(loginLoad(ctx, s))]);
      floods.push(logins.rps);
      return me;
    },
    after: () => drainLogins(ctx),
  };
  const baseline: Side = {
    async measure(s) {
      const bcrypt = await prepareBcrypt(options.bcryptCost, options.connections, s);
      const [me] = await Promise.all([run(meLoad(ctx, ctx.baselines.me, s)), bcrypt.go()]);
      return me;
    },
  };
  const summaries = await alternate(ctx, 'user.me during a login flood', latchkey, baseline);
  const flood = summarize(floods.map((rps) => ({ rps, p50: 0, p99: 0, ok: 0, non2xx: 0, errors: 0, timeouts: 0 })));
  return result(
    {
      name: 'flood',
      title: `user.me while ${options.connections} connections flood auth.login`,
      request: `GET /trpc/user.me as above, while another ${options.connections} connections POST /trpc/auth.login`,
      baselineLabel: `the me baseline while raw bcrypt verifies run in another process (${options.connections} at once)`,
      notes: [`logins answered during the flood: ${format(flood.rps.median)}/s (median)`],
    },
    summaries,
  );
}

export async function ceiling(ctx: BenchContext): Promise<ScenarioResult> {
  const baseline: Side = {
    measure: (s) => run({ url: url(ctx.baselines.ceiling, '/'), connections: ctx.options.connections, seconds: s }),
    warm: true,
  };
  return result(
    {
      name: 'ceiling',
      title: 'ceiling: the most one node:http server answers here',
      request: 'GET / (no Latchkey counterpart: the reference for what HTTP alone costs here)',
      baselineLabel: 'node:http answering a fixed JSON body',
      notes: [],
    },
    await alternate(ctx, 'ceiling', undefined, baseline),
  );
}

/** Grows the sessions table to `scaleTo` rows (PostgreSQL only), then measures refresh again. */
export async function refreshAtScale(ctx: BenchContext): Promise<ScenarioResult | string> {
  const { database, options } = ctx;
  if (database.kind !== 'postgres') return 'not run: the embedded database belongs to the server process (bulk SQL needs PostgreSQL)';
  const started = Date.now();
  ctx.progress(`growing the sessions table to ${format(options.scaleTo)} rows`);
  await growSessions(database.url, options.scaleTo, ctx.progress);
  ctx.progress(`grown in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  return refresh(ctx, options.scaleTo, 'refresh-at-scale');
}
