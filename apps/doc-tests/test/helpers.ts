/** Reading code blocks out of the docs, and running them (and the commands they name) as a reader would. */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const ROOT = join(import.meta.dirname, '..', '..', '..');

/**
 * The environment a reader's shell would have: this process's, without what vitest adds (it sets
 * Vite's `BASE_URL=/`, `MODE`, `NODE_ENV=test`..., which the server would read as its own).
 */
export function shellEnv(env: Record<string, string> = {}): Record<string, string> {
  const vitest = new Set(['BASE_URL', 'MODE', 'DEV', 'PROD', 'SSR', 'NODE_ENV', 'LATCHKEY_TEST_DATABASE']);
  const inherited = Object.entries(process.env).filter(
    (entry): entry is [string, string] => entry[1] !== undefined && !vitest.has(entry[0]) && !entry[0].startsWith('VITEST'),
  );
  return { ...Object.fromEntries(inherited), ...env };
}

export function readDoc(path: string): string {
  return readFileSync(join(ROOT, path), 'utf8');
}

export interface CodeBlock {
  /** The fence's info string: `sh`, `ts`, `ts signature`, ... */
  info: string;
  code: string;
  /** The line of the opening fence, for messages. */
  line: number;
}

export function codeBlocks(markdown: string): CodeBlock[] {
  const blocks: CodeBlock[] = [];
  const fence = /^```([^\n`]*)\n([\s\S]*?)^```$/gm;
  for (const match of markdown.matchAll(fence)) {
    blocks.push({ info: (match[1] ?? '').trim(), code: match[2] ?? '', line: markdown.slice(0, match.index).split('\n').length });
  }
  return blocks;
}

/** The text under a `## heading`, up to the next heading of that level. */
export function section(markdown: string, heading: string): string {
  const start = markdown.indexOf(`\n## ${heading}\n`);
  if (start === -1) throw new Error(`no section "## ${heading}"`);
  const end = markdown.indexOf('\n## ', start + 1);
  return markdown.slice(start, end === -1 ? undefined : end);
}

/** The one block of `markdown` with this info string whose code contains `needle`. */
export function blockWith(markdown: string, info: string, needle: string): CodeBlock {
  const found = codeBlocks(markdown).filter((block) => block.info === info && block.code.includes(needle));
  if (found.length !== 1) throw new Error(`expected one \`\`\`${info} block containing ${JSON.stringify(needle)}, found ${found.length}`);
  return found[0] as CodeBlock;
}

const END = '@@latchkey-doc-test: command done@@';

/**
 * The shell script of a block with a marker printed after each of its commands (a command is a
 * line that is not blank or a comment, with the lines its trailing backslashes continue), so that
 * what each command printed can be told apart. The block's own lines are kept as written.
 */
export function marked(code: string): string {
  const out: string[] = [];
  let continued = false;
  for (const line of code.split('\n')) {
    out.push(line);
    const isCommand = continued || (line.trim() !== '' && !line.trim().startsWith('#'));
    if (!isCommand) continue;
    continued = line.trimEnd().endsWith('\\');
    if (!continued) out.push(`printf '\\n%s\\n' '${END}'`);
  }
  return out.join('\n');
}

export interface Finished {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `script` with bash (errexit, nounset, pipefail), as pasted into a shell that stops at the
 * first failure; `outputs` are what the commands that printed something printed, in order.
 */
export async function bash(
  script: string,
  options: { cwd?: string; env?: Record<string, string> } = {},
): Promise<Finished & { outputs: string[] }> {
  const file = join(mkdtempSync(join(tmpdir(), 'latchkey-doc-')), 'script.sh');
  writeFileSync(file, `set -euo pipefail\n${script}\n`);
  const child = spawn('bash', [file], { cwd: options.cwd ?? ROOT, env: shellEnv(options.env), stdio: ['ignore', 'pipe', 'pipe'] });
  const finished = await finish(watch(child));
  const outputs = finished.stdout
    .split(`\n${END}\n`)
    .map((output) => output.replace(/^\n/, ''))
    .slice(0, -1)
    .filter((output) => output.trim() !== '');
  return { ...finished, outputs };
}

export interface Watched {
  child: ChildProcess;
  output(): { stdout: string; stderr: string };
  exited: Promise<number | null>;
}

export function watch(child: ChildProcess): Watched {
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk) => {
    stdout += chunk;
  });
  child.stderr?.on('data', (chunk) => {
    stderr += chunk;
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, exited, output: () => ({ stdout, stderr }) };
}

export async function finish(watched: Watched): Promise<Finished> {
  const code = await watched.exited;
  return { code, ...watched.output() };
}

const running = new Set<ChildProcess>();

/**
 * Runs a command line from the docs, as a shell would, from the repository's root. It gets a
 * process group of its own, so that `stopAll()` ends pnpm and whatever pnpm started alike.
 */
export function start(commandLine: string, env: Record<string, string>): Watched {
  const child = spawn('bash', ['-c', `exec ${commandLine}`], {
    cwd: ROOT,
    env: shellEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  running.add(child);
  child.on('exit', () => running.delete(child));
  return watch(child);
}

/** Kills every process group `start()` and `startInTerminal()` began that is still there (a test that failed halfway). */
export function stopAll(): void {
  for (const child of running) {
    if (child.pid !== undefined) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
  running.clear();
}

/**
 * Runs a command line in a terminal of its own (util-linux `script` gives it a pseudo-terminal),
 * so that `interrupt()` is a real Ctrl-C: the terminal sends SIGINT to every process of the
 * foreground group at once (pnpm and the server alike), as it does for a person at a keyboard.
 */
export function startInTerminal(commandLine: string, env: Record<string, string>): Watched & { interrupt(): void } {
  // The command runs in the terminal's own session; killing `script` closes the terminal, which hangs it up.
  // `script` runs it with $SHELL -c, or /bin/sh (dash) where SHELL is unset, as in CI: a non-interactive
  // dash dies of the Ctrl-C itself (status 130) while it waits. A person's interactive shell survives
  // it and shows the command's own status, so the shell execs the command: the status is the command's.
  const child = spawn('script', ['--quiet', '--flush', '--return', '--command', `exec ${commandLine}`, '/dev/null'], {
    cwd: ROOT,
    env: shellEnv(env),
    stdio: ['pipe', 'pipe', 'pipe'],
    detached: true,
  });
  running.add(child);
  child.on('exit', () => running.delete(child));
  return { ...watch(child), interrupt: () => child.stdin?.write('\x03') };
}

export async function waitFor(watched: Watched, pattern: RegExp, timeoutMs = 150_000): Promise<RegExpExecArray> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { stdout, stderr } = watched.output();
    const match = pattern.exec(stdout) ?? pattern.exec(stderr);
    if (match) return match;
    if (watched.child.exitCode !== null || Date.now() > deadline) {
      throw new Error(`${pattern} never appeared (exit ${watched.child.exitCode}):\n${stdout}\n${stderr}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** A port nothing listens on right now. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (typeof address !== 'object' || !address) throw new Error('no port');
  return address.port;
}

export function temporaryDirectory(): string {
  return mkdtempSync(join(tmpdir(), 'latchkey-doc-'));
}
