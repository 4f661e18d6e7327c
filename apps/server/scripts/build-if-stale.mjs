/**
 * `pnpm start` in a checkout: builds the server first when dist/ is missing or older than a source
 * it is built from (the server's or @latchkey/protocol's sources, or a build setting), so that
 * `pnpm install && pnpm start` works on a fresh clone and after a pull. Turbo builds the package
 * graph; an up-to-date dist costs only this file-time check.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const server = join(import.meta.dirname, '..');
const root = join(server, '..', '..');
const built = join(server, 'dist', 'main.js');

function newest(path) {
  if (!existsSync(path)) return 0;
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  let latest = stat.mtimeMs;
  for (const entry of readdirSync(path, { recursive: true })) latest = Math.max(latest, statSync(join(path, entry)).mtimeMs);
  return latest;
}

const inputs = [
  join(server, 'src'),
  join(server, 'package.json'),
  join(server, 'tsconfig.build.json'),
  join(root, 'tsconfig.base.json'),
  join(root, 'packages', 'protocol', 'src'),
  join(root, 'scripts', 'package-dist.mjs'),
];
const builtAt = existsSync(built) ? statSync(built).mtimeMs : 0;
const stale = inputs.find((input) => newest(input) > builtAt);
if (stale) {
  process.stderr.write(builtAt ? `Building the server: ${stale} changed since the last build.\n` : 'Building the server (first start).\n');
  const result = spawnSync('pnpm', ['exec', 'turbo', 'run', 'build', '--filter=@latchkey/server', '--output-logs=errors-only'], {
    cwd: root,
    stdio: 'inherit',
    env: { ...process.env, TURBO_TELEMETRY_DISABLED: '1' },
  });
  if (result.status !== 0) process.exit(result.status ?? 1);
}
