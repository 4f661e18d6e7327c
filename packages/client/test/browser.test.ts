import { existsSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { browserBundle } from './bundle.js';
import { migratedTestDatabase, newUser, type ServedApp, servedApp, type TestDatabase } from './server.js';

const CHROMIUM = '/usr/bin/chromium';
// CI installs Debian's chromium (.ci/run); elsewhere the test says why it did not run.
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium && process.env.CI) throw new Error(`${CHROMIUM} is missing: .ci/run installs it with apt-get`);

const PAGE = `<!doctype html><meta charset="utf-8"><title>latchkey</title>
<script type="module">
  import { createAuthClient, localStorageStorage } from '/client.js';
  // no-store: Chrome otherwise holds a second identical GET until the first one's answer (cache lock).
  const fetchNoStore = (input, init) => fetch(input, { ...init, cache: 'no-store' });
  window.auth = createAuthClient({ url: location.origin, storage: localStorageStorage(), fetch: fetchNoStore });
  window.ready = true;
</script>`;

interface PageAuth {
  login(input: { email: string; password: string }): Promise<unknown>;
  session(): Promise<{ refreshToken: string } | null>;
  user: { me: { query(): Promise<{ email: string }> } };
}
declare global {
  interface Window {
    auth: PageAuth;
    ready: boolean;
  }
}

describe.runIf(haveChromium)('in a real browser', () => {
  let database: TestDatabase;
  let server: ServedApp;
  let site: Server;
  let origin: string;
  let browser: Browser;
  let barrier: (() => void)[] | undefined;

  beforeAll(async () => {
    database = await migratedTestDatabase();
    server = await servedApp(database, { clock: 'shifted' });
    const bundle = await browserBundle();
    const latchkey = server.http.server;
    const forward = (req: IncomingMessage, res: ServerResponse) => latchkey.emit('request', req, res);
    // One origin for the page and the API: the page and its script here, everything else to Latchkey.
    site = createServer((req, res) => {
      if (req.url === '/') return res.writeHead(200, { 'content-type': 'text/html' }).end(PAGE);
      if (req.url === '/client.js') return res.writeHead(200, { 'content-type': 'text/javascript' }).end(bundle);
      // Make the race real: both tabs' calls reach the server together, and a refresh takes a while.
      if (barrier && req.url?.startsWith('/trpc/user.me')) {
        barrier.push(() => forward(req, res));
        if (barrier.length === 2) for (const release of barrier.splice(0)) release();
        return;
      }
      if (req.url?.startsWith('/trpc/auth.refresh')) return void setTimeout(() => forward(req, res), 300);
      forward(req, res);
    });
    await new Promise<void>((resolve) => site.listen(0, '127.0.0.1', resolve));
    const address = site.address();
    origin = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
    });
  });
  afterAll(async () => {
    await browser?.close();
    await new Promise((resolve) => site?.close(resolve));
    await server?.close();
    await database?.close();
  });

  it('two tabs with expired access tokens calling at once make exactly one refresh and share the new session', async () => {
    const context = await browser.newContext();
    const [first, second] = [await context.newPage(), await context.newPage()];
    for (const page of [first, second]) {
      await page.goto(origin);
      await page.waitForFunction(() => window.ready === true);
    }
    const input = newUser('tab');
    await server.client().auth.register.mutate(input);
    await first.evaluate((credentials) => window.auth.login(credentials).then(() => undefined), {
      email: input.email,
      password: input.password,
    });
    // The second tab picks the session up from the shared storage.
    await second.waitForFunction(() => window.auth.session().then((s) => s !== null));

    server.clock.advance(16 * 60);
    server.requests.length = 0;
    barrier = [];
    const emails = await Promise.all([first, second].map((page) => page.evaluate(() => window.auth.user.me.query().then((u) => u.email))));
    barrier = undefined;
    expect(emails).toEqual([input.email, input.email]);
    expect(server.requests.filter((r) => r.path === '/trpc/auth.refresh')).toHaveLength(1);

    const tokens = await Promise.all(
      [first, second].map((page) => page.evaluate(() => window.auth.session().then((s) => s?.refreshToken))),
    );
    expect(tokens[0]).toBeDefined();
    expect(tokens[1]).toBe(tokens[0]);
    // Both keep working on the shared session, with no further refresh.
    await Promise.all([first, second].map((page) => page.evaluate(() => window.auth.user.me.query().then((u) => u.email))));
    expect(server.requests.filter((r) => r.path === '/trpc/auth.refresh')).toHaveLength(1);
    await context.close();
  });
});
