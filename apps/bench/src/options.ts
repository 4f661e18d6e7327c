import { parseArgs } from 'node:util';

export const SCENARIOS = ['me', 'better-auth', 'refresh', 'login', 'flood', 'ceiling'] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

export interface Options {
  /** Seconds per measured run. */
  duration: number;
  connections: number;
  /** Measured runs per side; Latchkey and its baseline alternate (A B A B). */
  runs: number;
  /** Unmeasured seconds of load before each side's first run of a scenario. */
  warmup: number;
  bcryptCost: number;
  /** Accounts registered through the API; each brings one session for the refresh scenario. */
  users: number;
  /** Force the embedded database even when PostgreSQL is reachable. */
  embedded: boolean;
  /** After the other scenarios, grow the sessions table to `scaleTo` rows and measure refresh again. */
  sessionsScale: boolean;
  scaleTo: number;
  only: readonly ScenarioName[];
  json: boolean;
  writeResults: boolean;
  /** Directory for the server's --cpu-prof profile, or undefined. */
  profile: string | undefined;
  help: boolean;
}

export const USAGE = `pnpm bench [options]

Runs the real Latchkey server (PostgreSQL from DATABASE_URL, else 127.0.0.1:5432, else embedded
PGlite) and framework-free baselines under autocannon, alternating A B A B, and prints medians.

  --duration <s>        seconds per run (default 10)
  --connections <n>     concurrent keep-alive connections (default 50)
  --runs <n>            measured runs per side (default 3)
  --warmup <s>          unmeasured load before each side's first run (default 2)
  --bcrypt-cost <n>     BCRYPT_COST of the server and the bcrypt baseline (default 12)
  --users <n>           accounts to register, more than connections (default max(20, 2 x connections))
  --embedded            use embedded PGlite even when PostgreSQL is reachable
  --only <list>         comma-separated subset of ${SCENARIOS.join(',')}
                        (better-auth: its get-session beside user.me, on PostgreSQL only)
  --sessions-scale      then grow sessions to --scale-to rows and rerun refresh (PostgreSQL only; slow)
  --scale-to <n>        rows for --sessions-scale (default 1000000)
  --profile <dir>       run the server with --cpu-prof into <dir>, and print where its time went
                        (one profile covers every scenario run: use --only for one at a time)
  --json                print machine-readable JSON instead of tables
  --write-results       rewrite the generated part of apps/bench/RESULTS.md
`;

function positive(name: string, text: string | undefined, fallback: number, min = 1): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isFinite(value) || value < min) throw new Error(`--${name} must be a number >= ${min} (got ${JSON.stringify(text)})`);
  return value;
}

export function parseOptions(argv: readonly string[]): Options {
  const { values } = parseArgs({
    args: [...argv],
    strict: true,
    options: {
      duration: { type: 'string' },
      connections: { type: 'string' },
      runs: { type: 'string' },
      warmup: { type: 'string' },
      'bcrypt-cost': { type: 'string' },
      users: { type: 'string' },
      embedded: { type: 'boolean', default: false },
      'sessions-scale': { type: 'boolean', default: false },
      'scale-to': { type: 'string' },
      only: { type: 'string' },
      json: { type: 'boolean', default: false },
      'write-results': { type: 'boolean', default: false },
      profile: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const connections = Math.floor(positive('connections', values.connections, 50));
  const named = values.only === undefined ? SCENARIOS : values.only.split(',').map((s) => s.trim());
  for (const name of named) {
    if (!(SCENARIOS as readonly string[]).includes(name))
      throw new Error(`--only: unknown scenario ${JSON.stringify(name)} (${SCENARIOS.join(', ')})`);
  }
  const bcryptCost = Math.floor(positive('bcrypt-cost', values['bcrypt-cost'], 12, 4));
  if (bcryptCost > 31) throw new Error('--bcrypt-cost must be at most 31');
  const users = Math.floor(positive('users', values.users, Math.max(20, 2 * connections)));
  // Each refresh in flight holds a session of its own: there must be more sessions than connections.
  if (users <= connections) throw new Error(`--users must be more than --connections (${connections})`);
  return {
    duration: positive('duration', values.duration, 10),
    connections,
    runs: Math.floor(positive('runs', values.runs, 3)),
    warmup: positive('warmup', values.warmup, 2, 0),
    bcryptCost,
    users,
    embedded: values.embedded,
    sessionsScale: values['sessions-scale'],
    scaleTo: Math.floor(positive('scale-to', values['scale-to'], 1_000_000)),
    // Always in this order: refresh must see the table before logins add sessions to it.
    only: SCENARIOS.filter((name) => named.includes(name)),
    json: values.json,
    writeResults: values['write-results'],
    profile: values.profile,
    help: values.help,
  };
}
