/** The processes a benchmark starts: the real server, the baselines, the bcrypt baseline. */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

export const BENCH_DIR = join(import.meta.dirname, '..');
export const ROOT = join(BENCH_DIR, '..', '..');
// `node --import tsx` is what the tsx CLI does, minus the wrapping process (signals reach the server).
const TSX = import.meta.resolve('tsx');

const running = new Set<ChildProcess>();

/** Whatever is still running when the harness exits goes with it. */
export function killChildren(): void {
  for (const child of running) child.kill('SIGKILL');
  running.clear();
}
process.on('exit', killChildren);

export interface Child {
  name: string;
  port: number;
  pid: number;
  stop(): Promise<void>;
}

interface Launched {
  child: ChildProcess;
  /** The end of what the child wrote to stderr, for error messages. */
  stderr(): string;
}

function launch(script: string, args: string[], env: Record<string, string>, nodeArgs: string[] = []): Launched {
  // TypeScript (the baselines) through tsx; the server's compiled JavaScript as it is.
  const loader = script.endsWith('.ts') ? ['--import', TSX] : [];
  const child = spawn(process.execPath, [...nodeArgs, ...loader, script, ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  running.add(child);
  child.once('exit', () => running.delete(child));
  child.once('error', () => running.delete(child));
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4_000);
  });
  return { child, stderr: () => stderr };
}

function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

async function stop(child: ChildProcess, timeoutMs = 15_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  await exited(child);
  clearTimeout(timer);
}

/** Resolves with the first stdout JSON line `accept` takes, or rejects when the child exits first. */
function firstLine<T>(launched: Launched, name: string, accept: (value: unknown) => T | undefined, timeoutMs: number): Promise<T> {
  const { child } = launched;
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
    const timer = setTimeout(() => fail(new Error(`${name} did not start within ${timeoutMs / 1000} s`)), timeoutMs);
    const onExit = (code: number | null) => fail(new Error(`${name} exited (${code}) before it was ready:\n${launched.stderr()}`));
    function fail(error: Error) {
      clearTimeout(timer);
      child.off('exit', onExit);
      lines.close();
      reject(error);
    }
    child.once('exit', onExit);
    lines.on('line', (line) => {
      let value: unknown;
      try {
        value = JSON.parse(line);
      } catch {
        return;
      }
      const accepted = accept(value);
      if (accepted === undefined) return;
      clearTimeout(timer);
      child.off('exit', onExit);
      // Keep draining stdout so that a chatty child never blocks on a full pipe.
      lines.removeAllListeners('line');
      lines.on('line', () => {});
      resolve(accepted);
    });
  });
}

/** A port free on 127.0.0.1 now, for a process that must know its own port before it listens. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
}

async function healthy(port: number): Promise<boolean> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(2_000) });
    await response.arrayBuffer();
    return response.ok;
  } catch {
    return false;
  }
}

/**
 * The real server, as `pnpm start` runs it: compiled (`apps/server/dist/main.js`, built first
 * when it is missing or older than its sources), with no TypeScript loader. Its "Latchkey listening" line (which names the port
 * when PORT=0) is logged at info level, which LOG_LEVEL=warn hides, and info would log every
 * request: so the harness picks a free port for it and waits until /health answers.
 */
export async function startServer(env: Record<string, string>, profileDir: string | undefined): Promise<Child> {
  const build = spawnSync(process.execPath, [join(ROOT, 'apps/server/scripts/build-if-stale.mjs')], { cwd: ROOT, stdio: 'inherit' });
  if (build.status !== 0) throw new Error('building the server (apps/server/scripts/build-if-stale.mjs) failed');
  const port = await freePort();
  const nodeArgs = profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [];
  const launched = launch(join(ROOT, 'apps/server/dist/main.js'), [], { ...env, PORT: String(port) }, nodeArgs);
  const { child } = launched;
  // Read and dropped (LOG_LEVEL=warn writes little), so that the pipe never fills.
  child.stdout?.resume();
  const deadline = Date.now() + 180_000;
  for (;;) {
    if (child.exitCode !== null)
      throw new Error(`the Latchkey server exited (${child.exitCode}) before it was ready:\n${launched.stderr()}`);
    if (await healthy(port)) break;
    if (Date.now() > deadline) throw new Error(`the Latchkey server did not answer /health within 180 s:\n${launched.stderr()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const pid = child.pid ?? 0;
  return { name: 'latchkey', port, pid, stop: () => stop(child) };
}

/**
 * A baseline server from baselines/<name>.ts; it prints `{"baseline":name,"port":n}` once listening.
 * An embedded one waits for the path of its seed file on stdin: `seedFile` sends it when known.
 */
export async function startBaseline(name: string, env: Record<string, string>, seedFile?: Promise<string>): Promise<Child> {
  const launched = launch(join(BENCH_DIR, 'baselines', `${name}.ts`), [], { PORT: '0', ...env });
  const { child } = launched;
  seedFile?.then(
    (path) => child.stdin?.write(`${path}\n`),
    () => child.kill('SIGKILL'),
  );
  const port = await firstLine(
    launched,
    `the ${name} baseline`,
    (value) => {
      const line = value as { baseline?: unknown; port?: unknown };
      return line.baseline === name && typeof line.port === 'number' ? line.port : undefined;
    },
    60_000,
  );
  return { name, port, pid: child.pid ?? 0, stop: () => stop(child) };
}

export interface BcryptResult {
  ok: number;
  rps: number;
  p50: number;
  p99: number;
  threadpool: string;
}

/**
 * The bcrypt baseline: starts, makes its hash, and waits for `go` on stdin so that the harness can
 * start it together with another load.
 */
export async function prepareBcrypt(cost: number, concurrency: number, seconds: number): Promise<{ go(): Promise<BcryptResult> }> {
  const launched = launch(join(BENCH_DIR, 'baselines', 'bcrypt.ts'), [String(cost), String(concurrency), String(seconds)], {});
  const { child } = launched;
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  const results: unknown[] = [];
  let notify: (() => void) | undefined;
  lines.on('line', (line) => {
    try {
      results.push(JSON.parse(line));
    } catch {
      return;
    }
    notify?.();
  });
  const next = (what: string) =>
    new Promise<unknown>((resolve, reject) => {
      const check = () => {
        const value = results.shift();
        if (value !== undefined) {
          child.off('exit', onExit);
          notify = undefined;
          resolve(value);
        }
      };
      const onExit = () => {
        check();
        reject(new Error(`the bcrypt baseline exited before ${what}:\n${launched.stderr()}`));
      };
      notify = check;
      child.once('exit', onExit);
      check();
    });
  await next('it was ready');
  return {
    async go() {
      child.stdin?.write('go\n');
      const result = (await next('it reported')) as BcryptResult;
      await exited(child);
      return result;
    },
  };
}
