/**
 * The TypeScript examples of the README, docs/client.md, docs/testing.md and docs/verifying-tokens.md,
 * type-checked under the repository's strict settings as a reader would paste them (```ts
 * signature blocks, which show a call's shape, excepted), and the runnable ones run: the test
 * kit example is the server's examples/auth-flow.test.ts (which its suite runs), and the verifier's
 * example service is started with the command the page gives.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { migratedTestDatabase, newUser, type ServedApp, servedApp, type TestDatabase } from '@latchkey/server/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  bash,
  blockWith,
  type CodeBlock,
  codeBlocks,
  finish,
  freePort,
  ROOT,
  readDoc,
  start,
  startInTerminal,
  stopAll,
  waitFor,
} from './helpers.js';

const PACKAGE = join(import.meta.dirname, '..');
const DOCS = ['README.md', 'docs/client.md', 'docs/testing.md', 'docs/verifying-tokens.md'];

/**
 * What an example uses from the surrounding prose without declaring it (the request of a handler,
 * the verifier made in the first example). Declared for a block only when it uses the name and
 * does not declare it itself.
 */
const CONTEXT: Record<string, string> = {
  req: "declare const req: import('node:http').IncomingMessage;",
  verifier: "declare const verifier: import('@latchkey/verify').Verifier;",
  auth: "declare const auth: import('@latchkey/client').AuthClient;",
  render: 'declare function render(user: unknown): void;',
};

function declares(code: string, name: string): boolean {
  return new RegExp(
    `\\b(?:const|let|var|function|class)\\s+(?:\\{[^}]*\\b${name}\\b[^}]*\\}|${name}\\b)|^import[^;]*\\b${name}\\b`,
    'm',
  ).test(code);
}

function uses(code: string, name: string): boolean {
  return new RegExp(`\\b${name}\\b`).test(code.replace(/\/\/.*$/gm, ''));
}

/** The examples a reader can paste: ```ts blocks, except signatures (```ts signature). */
function examples(doc: string): CodeBlock[] {
  return codeBlocks(readDoc(doc)).filter((block) => block.info === 'ts');
}

describe('the TypeScript examples of the docs', () => {
  it('type-check under the strict settings of tsconfig.base.json, each block as a module of its own', () => {
    const directory = join(PACKAGE, `.snippets-${process.pid}`);
    mkdirSync(directory, { recursive: true });
    try {
      const files: string[] = [];
      for (const doc of DOCS) {
        const blocks = examples(doc);
        expect(blocks.length, doc).toBeGreaterThan(0);
        for (const block of blocks) {
          const context = Object.entries(CONTEXT)
            .filter(([name]) => uses(block.code, name) && !declares(block.code, name))
            .map(([, declaration]) => declaration);
          const file = `${doc.replace(/\W/g, '-')}-line-${block.line}.ts`;
          writeFileSync(join(directory, file), `${block.code}\n${context.join('\n')}\nexport {};\n`);
          files.push(file);
        }
      }
      writeFileSync(
        join(directory, 'tsconfig.json'),
        JSON.stringify({ extends: '../../../tsconfig.base.json', compilerOptions: { noEmit: true, types: ['node'] }, include: files }),
      );
      const tsc = spawnSync(join(PACKAGE, 'node_modules', '.bin', 'tsc'), ['-p', join(directory, 'tsconfig.json')], {
        cwd: PACKAGE,
        encoding: 'utf8',
      });
      expect(`${tsc.stdout}${tsc.stderr}`).toBe('');
      expect(tsc.status).toBe(0);
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  });

  it("docs/testing.md's example is apps/server/examples/auth-flow.test.ts, which the server's suite runs", () => {
    // The file may open with a comment saying where it comes from; the rest is the example, as written.
    const file = readFileSync(join(ROOT, 'apps/server/examples/auth-flow.test.ts'), 'utf8').replace(/^(?:\/\/.*\n)+/, '');
    expect(examples('docs/testing.md').map((block) => block.code)).toContain(file);
  });
});

describe("docs/verifying-tokens.md's runnable example", () => {
  let database: TestDatabase;
  let server: ServedApp;
  beforeAll(async () => {
    database = await migratedTestDatabase();
    // The example verifies on the real clock, so the server issues its tokens on real time too.
    server = await servedApp(database, { clock: 'shifted' });
  });
  afterAll(async () => {
    stopAll();
    await server?.close();
    await database?.close();
  });

  it('answers the curl of the page with the caller, and stops cleanly on SIGTERM (exit 0, no ELIFECYCLE)', async () => {
    const block = blockWith(readDoc('docs/verifying-tokens.md'), 'sh', '@latchkey/verify example').code;
    const [, command] = /^LATCHKEY_URL=http:\/\/localhost:3000 PORT=4000 (pnpm --filter @latchkey\/verify example)$/m.exec(block) ?? [];
    const [curl] = /^curl .*http:\/\/127\.0\.0\.1:4000\/me$/m.exec(block) ?? [];
    if (!command || !curl) throw new Error('the page no longer shows the command and the curl it runs');
    const port = await freePort();
    // The page's server address is the served test app's here: the example fetches its JWKS.
    const example = start(command, { LATCHKEY_URL: server.url, PORT: String(port), DATABASE_URL: '' });
    await waitFor(example, /listening on http:\/\/127\.0\.0\.1:\d+ \(revocation off\)/);

    const session = await server.client().auth.register.mutate(newUser());
    const answer = await bash(curl.replace('127.0.0.1:4000', `127.0.0.1:${port}`), { env: { ACCESS_TOKEN: session.accessToken } });
    expect(answer.code).toBe(0);
    expect(JSON.parse(answer.stdout)).toMatchObject({ userId: session.user.id, sessionId: expect.any(String) });

    example.child.kill('SIGTERM');
    const stopped = await finish(example);
    expect(stopped.stdout + stopped.stderr).not.toContain('ELIFECYCLE');
    expect(stopped.code).toBe(0);

    // And as a person stops it: Ctrl-C in its terminal.
    const terminal = startInTerminal(command, { LATCHKEY_URL: server.url, PORT: '0', DATABASE_URL: '' });
    await waitFor(terminal, /listening on http/);
    terminal.interrupt();
    const interrupted = await finish(terminal);
    expect(interrupted.stdout).not.toContain('ELIFECYCLE');
    expect(interrupted.code).toBe(0);
  });
});
