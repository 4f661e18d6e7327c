import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { until } from '../../src/testing.js';

/**
 * The real entry points, run from their TypeScript sources with `node --import tsx` (compiled
 * JavaScript, e.g. `bin/latchkey.js`, with plain `node`), so that signals reach the server itself. (The tsx CLI relays a signal to its child and kills it
 * with SIGKILL if the child does not acknowledge within 30 ms, which a busy machine can miss.)
 */
const root = join(import.meta.dirname, '..', '..');
const children = new Set<ChildProcess>();

export interface RunningProcess {
  child: ChildProcess;
  /** The process's DATA_DIR: the one given, or a fresh temporary directory. */
  dataDir: string;
  exited: Promise<number | null>;
  output(): { stdout: string; stderr: string };
}

/**
 * Without a DATA_DIR of the test's own, each process gets a fresh temporary one: the default
 * (`./.data`) is the developer's embedded database, secret and mail, which tests must not touch.
 */
export function run(script: string, env: Record<string, string>, args: readonly string[] = []): RunningProcess {
  const dataDir = env.DATA_DIR ?? mkdtempSync(join(tmpdir(), 'latchkey-process-'));
  const loader = script.endsWith('.ts') ? ['--import', 'tsx'] : [];
  const child = spawn(process.execPath, [...loader, script, ...args], {
    cwd: root,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', NODE_ENV: 'development', ...env, DATA_DIR: dataDir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk) => {
    stdout += chunk;
  });
  child.stderr?.on('data', (chunk) => {
    stderr += chunk;
  });
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (code) => {
      children.delete(child);
      resolve(code);
    }),
  );
  return { child, dataDir, exited, output: () => ({ stdout, stderr }) };
}

/** Kills whatever a test left running. */
export function killAll(): void {
  for (const child of children) child.kill('SIGKILL');
  children.clear();
}

/** The "listening" log lines a server process has written so far. */
export function listeningLines(server: RunningProcess): { port: number; pid: number }[] {
  return server
    .output()
    .stdout.split('\n')
    .filter((line) => line.includes('Latchkey listening'))
    .map((line) => JSON.parse(line) as { port: number; pid: number });
}

export function listeningPort(server: RunningProcess, instances = 1): Promise<number> {
  return until(() => {
    const lines = listeningLines(server);
    return lines.length >= instances ? lines[0]?.port : undefined;
  }, 90_000);
}
