/**
 * The README's quick start, run as written: `pnpm start`, the "Try it" blocks pasted into bash
 * (tRPC, then REST), the command that opens the newest mail, the SDK example, and a clean stop.
 * The blocks are read out of README.md, so a changed doc is what gets tested. The only change
 * made to them is the address: the server the test starts listens on a free port, not on 3000.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  bash,
  blockWith,
  finish,
  freePort,
  marked,
  readDoc,
  section,
  start,
  startInTerminal,
  stopAll,
  temporaryDirectory,
  type Watched,
  waitFor,
} from './helpers.js';

const readme = readDoc('README.md');

/** What the README says to start the server with for the SDK example (`ACCESS_TOKEN_TTL=10s pnpm start`). */
const exampleTtl = /`ACCESS_TOKEN_TTL=(\w+) pnpm start`/.exec(readme)?.[1];

describe('README.md', () => {
  let server: Watched;
  let address: string;
  const dataDir = temporaryDirectory();

  beforeAll(async () => {
    const port = await freePort();
    address = `127.0.0.1:${port}`;
    const [command] = /pnpm start/.exec(blockWith(readme, 'sh', 'pnpm install && pnpm start').code) ?? [];
    if (!command || !exampleTtl) throw new Error('the README no longer says `pnpm start` (with ACCESS_TOKEN_TTL for the SDK example)');
    server = start(command, {
      PORT: String(port),
      HOST: '127.0.0.1',
      DATABASE_URL: 'memory://',
      DATA_DIR: dataDir,
      BCRYPT_COST: '4',
      ACCESS_TOKEN_TTL: exampleTtl,
      LOG_LEVEL: 'info',
    });
    await waitFor(server, /Latchkey listening/);
  });
  afterAll(stopAll);

  const pasted = (needle: string) => blockWith(section(readme, 'Try it'), 'sh', needle).code.replaceAll('localhost:3000', address);
  const json = (text: string | undefined) => JSON.parse(text ?? 'null') as Record<string, unknown>;

  it('"Try it", tRPC: register, log in, me, refresh and logout answer as shown; logout ends the rotated refresh token', async () => {
    const run = await bash(marked(`${pasted('/trpc/auth.register')}\necho "$ACCESS_TOKEN $REFRESH_TOKEN"`));
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const [registered, login, me, logout, tokens] = run.outputs;
    expect(json(registered)).toMatchObject({
      result: { data: { json: { user: { username: 'alice' }, accessToken: expect.stringMatching(/^eyJ/) } } },
    });
    const signedIn = json(login) as { result: { data: { json: { accessToken: string; refreshToken: string } } } };
    expect(signedIn).toMatchObject({
      result: { data: { json: { user: { email: 'alice@example.com' }, accessToken: expect.stringMatching(/^eyJ/) } } },
    });
    expect(json(me)).toMatchObject({ result: { data: { json: { username: 'alice', email: 'alice@example.com' } } } });
    expect(json(logout)).toMatchObject({ result: { data: { json: { success: true } } } });
    // The variables the block set: the access token of the login, and the refresh token the refresh returned.
    const [accessToken, refreshToken] = (tokens ?? '').trim().split(' ');
    expect(accessToken).toBe(signedIn.result.data.json.accessToken);
    expect(refreshToken).not.toBe(signedIn.result.data.json.refreshToken);
    const after = await fetch(`http://${address}/trpc/auth.refresh`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ json: { refreshToken } }),
    });
    expect(after.status).toBe(401); // logged out: the rotated token ended with its session
  });

  it('"Try it", REST: register (201), log in, me, refresh (rotated) and logout answer as shown', async () => {
    const run = await bash(marked(`${pasted('/api/users ')}\necho "$REFRESH_TOKEN"`));
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const [registered, login, me, refreshed, logout, last] = run.outputs;
    expect(json(registered)).toMatchObject({
      user: { username: 'sam', email: 'sam@test.com' },
      access_token: expect.stringMatching(/^eyJ/),
    });
    const signedIn = json(login) as { access_token: string; refresh_token: string };
    expect(signedIn).toMatchObject({
      user: { email: 'sam@test.com', token: signedIn.access_token },
      access_token: expect.stringMatching(/^eyJ/),
    });
    expect(json(me)).toMatchObject({ user: { username: 'sam', token: signedIn.access_token } });
    const rotated = json(refreshed) as { refresh_token: string };
    expect(rotated).toMatchObject({ access_token: expect.stringMatching(/^eyJ/), refresh_token: expect.any(String) });
    expect(rotated.refresh_token).not.toBe(signedIn.refresh_token);
    expect(json(logout)).toMatchObject({ message: expect.any(String) });
    expect(last?.trim()).toBe(rotated.refresh_token);
  });

  it('the command for the newest mail shows its verification link whole, on one line', async () => {
    const [, command] = /`(cat "\$\(ls -t apps\/server\/\.data\/mail\/\*\.eml \| head -1\)")`/.exec(section(readme, 'Mail')) ?? [];
    if (!command) throw new Error('the README no longer says how to open the newest mail');
    // The newest mail is sam's: the REST registration came last. The worker may take a moment.
    let mail = '';
    for (let i = 0; i < 100 && !mail.includes('sam@test.com'); i += 1) {
      mail = (await bash(command.replace('apps/server/.data', dataDir))).stdout;
      if (!mail.includes('sam@test.com')) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(mail).toContain('To: sam@test.com');
    expect(mail).toMatch(/^.*http:\/\/localhost:3000\/verify-email\?token=[\w-]{20,}$/m);
  });

  it(`the SDK example (\`pnpm --filter @latchkey/client example\`) stays signed in across its ${exampleTtl} access token`, async () => {
    const [command] = /^pnpm --filter @latchkey\/client example/m.exec(blockWith(readme, 'sh', '@latchkey/client example').code) ?? [];
    if (!command) throw new Error('the README no longer shows the SDK example command');
    const run = await finish(
      start(command, { LATCHKEY_URL: `http://${address}`, LATCHKEY_SESSION_FILE: `${temporaryDirectory()}/session.json` }),
    );
    expect(run.stdout).toMatch(/signed in as demo\w+[\s\S]*still signed in as demo\w+ \(refreshed transparently\)/);
    expect(run.stdout + run.stderr).not.toContain('ELIFECYCLE');
    expect(run.code).toBe(0);
  });

  it('Ctrl-C on `pnpm start` in a terminal stops it as the README says: "stopped", status 0, no ELIFECYCLE', async () => {
    const port = await freePort();
    const terminal = startInTerminal('pnpm start', {
      PORT: String(port),
      HOST: '127.0.0.1',
      DATABASE_URL: 'memory://',
      DATA_DIR: temporaryDirectory(),
    });
    await waitFor(terminal, /Latchkey listening/);
    terminal.interrupt();
    const { code, stdout } = await finish(terminal);
    expect(stdout).toContain('"msg":"stopped"');
    expect(stdout).not.toContain('ELIFECYCLE');
    expect(code).toBe(0);
  });

  it('a clean stop looks as the README says: SIGTERM to `pnpm start` logs "stopped" and exits 0, without ELIFECYCLE', async () => {
    expect(readme).toContain('`"msg":"stopped"`');
    server.child.kill('SIGTERM');
    const { code, stdout, stderr } = await finish(server);
    expect(stdout).toContain('"msg":"shutting down"');
    expect(stdout).toContain('"msg":"stopped"');
    expect(stdout + stderr).not.toContain('ELIFECYCLE');
    expect(code).toBe(0);
  });
});
