/**
 * The SDK as another team gets it: `pnpm pack` makes tarballs of @latchkey/client and
 * @latchkey/verify, `npm install` puts them (and their dependencies, from the registry pnpm uses)
 * into a fresh project outside the repository, and that project type-checks, bundles for the
 * browser and runs on Node against the real, compiled server. No workspace link is involved.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { cpSync, existsSync, lstatSync, mkdtempSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const here = import.meta.dirname;
const root = join(here, '..', '..');
const CHROMIUM = '/usr/bin/chromium';

/**
 * The commands README.md and docs/client.md give, run here as written (with PACKAGES set to a
 * temporary folder): the first in the repository, the second in the other project.
 */
export const PACK_COMMAND = 'pnpm --filter @latchkey/client --filter @latchkey/verify pack --pack-destination "$PACKAGES"';
export const INSTALL_COMMAND =
  'npm install --prefer-offline --no-audit --no-fund "$PACKAGES/latchkey-client-0.1.0.tgz" "$PACKAGES/latchkey-verify-0.1.0.tgz"';

const workspace = createRequire(join(root, 'packages', 'client', 'package.json'));
const versionOf = (name: string) =>
  (JSON.parse(readFileSync(workspace.resolve(`${name}/package.json`), 'utf8')) as { version: string }).version;

function sh(command: string, cwd: string, env: Record<string, string> = {}): string {
  return execFileSync('/bin/sh', ['-c', command], {
    cwd,
    env: { ...process.env, ...env },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

let work: string;
let project: string;
let server: ChildProcess | undefined;
let api: string;
let site: Server | undefined;
let origin: string;
let bundle: string;

async function listen(httpServer: Server): Promise<string> {
  await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
  const address = httpServer.address();
  return `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
}

/** The compiled server (`latchkey start`), on an in-memory database, allowing the page's origin. */
async function startServer(corsOrigin: string): Promise<string> {
  const child = spawn(process.execPath, [join(root, 'apps', 'server', 'bin', 'latchkey.js'), 'start'], {
    env: {
      PATH: process.env.PATH ?? '',
      NODE_ENV: 'test',
      DATABASE_URL: 'memory://',
      PORT: '0',
      HOST: '127.0.0.1',
      JWT_SECRET: 'consumer-test-secret-of-at-least-32-bytes!',
      BCRYPT_COST: '4',
      CORS_ORIGINS: corsOrigin,
      MAIL_TRANSPORT: 'file',
      DATA_DIR: join(work, 'server-data'),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  server = child;
  let output = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the server did not start: ${output}`)), 90_000);
    const read = (chunk: Buffer) => {
      output += chunk;
      const port = output.match(/"port":(\d+)/)?.[1];
      if (port && output.includes('Latchkey listening')) {
        clearTimeout(timer);
        resolve(`http://127.0.0.1:${port}`);
      }
    };
    child.stdout?.on('data', read);
    child.stderr?.on('data', read);
    child.on('exit', (code) => reject(new Error(`the server exited (${code}): ${output}`)));
  });
}

async function register(email: string, password: string): Promise<void> {
  const response = await fetch(`${api}/api/users`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ user: { username: email.split('@')[0], email, password } }),
  });
  expect(response.status).toBe(201);
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'latchkey-consumer-'));
  project = join(work, 'project');
  const packages = join(work, 'packages');
  cpSync(join(here, 'project'), project, { recursive: true });
  sh(PACK_COMMAND, root, { PACKAGES: packages });
  // The registry pnpm installs from; @types/node for the type check of the verifier's http helpers.
  const registry = sh('pnpm config get registry', root).trim();
  const npm = { PACKAGES: packages, npm_config_registry: registry, npm_config_update_notifier: 'false' };
  sh(INSTALL_COMMAND, project, npm);
  sh(`npm install --prefer-offline --no-audit --no-fund -D @types/node@${versionOf('@types/node')}`, project, npm);

  site = createServer((req, res) => {
    if (req.url === '/app.js') return res.writeHead(200, { 'content-type': 'text/javascript' }).end(bundle);
    res
      .writeHead(200, { 'content-type': 'text/html' })
      .end('<!doctype html><meta charset="utf-8"><script type="module" src="/app.js"></script>');
  });
  origin = await listen(site);
  api = await startServer(origin);
});

afterAll(async () => {
  server?.kill('SIGTERM');
  await new Promise((resolve) => (site ? site.close(resolve) : resolve(undefined)));
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('the packed SDK in a project outside the repository', () => {
  it('is installed with the commands README.md and docs/client.md give', () => {
    for (const doc of ['README.md', join('docs', 'client.md')]) {
      const text = readFileSync(join(root, doc), 'utf8');
      expect(text, doc).toContain(`export PACKAGES="$HOME/latchkey-packages"\n${PACK_COMMAND}\n`);
      expect(text, doc).toContain(`\n${INSTALL_COMMAND}\n`);
    }
  });

  it('is installed from the tarballs, outside the repository, with no link into the workspace', () => {
    expect(project.startsWith(root)).toBe(false);
    for (const name of ['client', 'verify']) {
      const installed = join(project, 'node_modules', '@latchkey', name);
      expect(lstatSync(installed).isSymbolicLink()).toBe(false);
      expect(realpathSync(installed).startsWith(root)).toBe(false);
      const manifest = JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8')) as Record<string, Record<string, string>>;
      const needs = JSON.stringify([manifest.dependencies, manifest.peerDependencies]);
      expect(needs).not.toMatch(/workspace:|catalog:|@latchkey\//);
    }
    // Nothing private came along: the protocol and the router's types are inside the packages.
    expect(existsSync(join(project, 'node_modules', '@latchkey', 'protocol'))).toBe(false);
    expect(existsSync(join(project, 'node_modules', '@latchkey', 'server'))).toBe(false);
    expect(existsSync(join(project, 'node_modules', 'kysely'))).toBe(false);
    expect(versionOf('@trpc/server')).toBe(
      JSON.parse(readFileSync(join(project, 'node_modules', '@trpc', 'server', 'package.json'), 'utf8')).version,
    );
  });

  it("type-checks under strict: user.me returns User with createdAt: Date, login's answer is the union, and wrong inputs are errors", () => {
    const tsc = join(workspace.resolve('typescript/package.json'), '..', 'bin', 'tsc');
    const result = (() => {
      try {
        return { code: 0, output: execFileSync(process.execPath, [tsc, '-p', project], { encoding: 'utf8', stdio: 'pipe' }) };
      } catch (error) {
        const failed = error as { status: number; stdout: string; stderr: string };
        return { code: failed.status, output: `${failed.stdout}${failed.stderr}` };
      }
    })();
    expect(result.output).toBe('');
    expect(result.code).toBe(0);
  });

  it.runIf(existsSync(CHROMIUM) || process.env.CI)(
    'bundles for the browser with esbuild, and signs in and reads user.me in Chromium',
    async () => {
      const output = await build({
        entryPoints: [join(project, 'src', 'browser.ts')],
        absWorkingDir: project,
        bundle: true,
        format: 'esm',
        platform: 'browser',
        target: 'es2022',
        write: false,
        logLevel: 'silent',
        metafile: true,
      });
      bundle = output.outputFiles[0]?.text ?? '';
      // Everything it bundled came from the project's node_modules.
      expect(Object.keys(output.metafile.inputs).every((input) => !input.startsWith('..'))).toBe(true);
      expect(bundle).not.toMatch(/kysely|pglite|bcrypt|node:fs/i);

      await register('browser@example.com', 'a long browser passphrase');
      let browser: Browser | undefined;
      try {
        browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu'] });
        const page = await browser.newPage();
        await page.goto(origin);
        await page.waitForFunction(() => typeof window.signInAndReadProfile === 'function');
        const profile = await page.evaluate(([url, email, password]) => window.signInAndReadProfile(url, email, password), [
          api,
          'browser@example.com',
          'a long browser passphrase',
        ] as const);
        expect(profile.email).toBe('browser@example.com');
        expect(Number.isNaN(Date.parse(profile.createdAt))).toBe(false);
      } finally {
        await browser?.close();
      }
    },
  );

  it('runs on Node with the file storage: a second run resumes the session from the file', async () => {
    await register('node@example.com', 'a long node passphrase');
    const run = () =>
      JSON.parse(
        execFileSync(
          process.execPath,
          ['src/node-script.mjs', api, join(work, 'session.json'), 'node@example.com', 'a long node passphrase'],
          {
            cwd: project,
            encoding: 'utf8',
          },
        ),
      ) as Record<string, unknown>;
    const first = run();
    expect(first).toEqual({
      resumed: false,
      status: 'signed-in',
      email: 'node@example.com',
      createdAtIsDate: true,
      hasAccessToken: true,
      verifier: 'function',
    });
    expect(run()).toMatchObject({ resumed: true, status: null, email: 'node@example.com', createdAtIsDate: true });
  });
});

declare global {
  interface Window {
    signInAndReadProfile(api: string, email: string, password: string): Promise<{ email: string; createdAt: string }>;
  }
}
