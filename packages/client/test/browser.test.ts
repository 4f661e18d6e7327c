import { existsSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { migratedTestDatabase, newUser, type ServedApp, servedApp, type TestDatabase, until } from '@latchkey/server/testing';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuthClientOptions, localStorageStorage, SessionStorage } from '../src/index.js';
import { browserBundle } from './bundle.js';

const CHROMIUM = '/usr/bin/chromium';
/** The Web Lock of `localStorageStorage()`, which every tab takes to sign in, sign out and refresh. */
const LOCK = 'latchkey-storage:latchkey.session';
// CI installs Debian's chromium (.ci/run); elsewhere the test says why it did not run.
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium && process.env.CI) throw new Error(`${CHROMIUM} is missing: .ci/run installs it with apt-get`);

const PAGE = `<!doctype html><meta charset="utf-8"><title>latchkey</title>
<script type="module">
  import { createAuthClient, decodeState, localStorageStorage } from '/client.js';
  // no-store: Chrome otherwise holds a second identical GET until the first one's answer (cache lock).
  const fetchNoStore = (input, init) => fetch(input, { ...init, cache: 'no-store' });
  // Tests that need a client of their own make it with these.
  Object.assign(window, { createAuthClient, localStorageStorage, fetchNoStore });
  // localStorage as a tab sees it when the other tabs' writes reach it only lagMs late: its own
  // writes at once, theirs (and their storage events) after the lag.
  window.laggingStorage = (lagMs) => {
    const storage = localStorageStorage();
    const listeners = new Set();
    const timeline = [{ at: -Infinity, text: localStorage.getItem('latchkey.session') }];
    addEventListener('storage', (event) => {
      if (event.key !== 'latchkey.session') return;
      timeline.push({ at: performance.now() + lagMs, text: event.newValue });
      setTimeout(() => {
        for (const listener of listeners) listener(decodeState(event.newValue));
      }, lagMs);
    });
    const own = (text) => timeline.push({ at: -Infinity, text });
    return {
      lockName: storage.lockName,
      get: async () => decodeState(timeline.findLast((entry) => entry.at <= performance.now())?.text),
      set: async (state) => {
        await storage.set(state);
        own(localStorage.getItem('latchkey.session'));
      },
      subscribe(listener) {
        listeners.add(listener);
        return () => listeners.delete(listener);
      },
    };
  };
  // The worst case of a late storage event, in one tab: once this tab's refresh is answered, its
  // next read (the refresh checking the storage) takes its value, then waits for releaseRead().
  // What other tabs write meanwhile reaches this tab only after its own check and write.
  window.heldReads = [];
  let armed = false;
  window.fetchArming = (input, init) =>
    fetchNoStore(input, init).then((response) => {
      if (String(input).includes('auth.refresh')) armed = true;
      return response;
    });
  window.checkHeldStorage = () => {
    const storage = localStorageStorage();
    const listeners = new Set();
    let deferred;
    storage.subscribe((state) => {
      if (deferred) deferred.push(state);
      else for (const listener of listeners) listener(state);
    });
    window.releaseRead = () => {
      window.heldReads.shift()?.();
      // A task later: the check and the write follow the read with no task in between.
      setTimeout(() => {
        const states = deferred ?? [];
        deferred = undefined;
        for (const state of states) for (const listener of listeners) listener(state);
      });
    };
    return {
      lockName: storage.lockName,
      async get() {
        const state = await storage.get();
        if (armed) {
          armed = false;
          deferred = [];
          await new Promise((resolve) => window.heldReads.push(resolve));
        }
        return state;
      },
      set: (state) => storage.set(state),
      subscribe(listener) {
        listeners.add(listener);
        return () => listeners.delete(listener);
      },
    };
  };
  window.auth = createAuthClient({ url: location.origin, storage: localStorageStorage(), fetch: fetchNoStore });
  window.ready = true;
</script>`;

interface PageAuth {
  login(input: { email: string; password: string }): Promise<unknown>;
  logout(): Promise<{ serverConfirmed: boolean }>;
  session(): Promise<{ refreshToken: string; user: { email: string } | null } | null>;
  user: { me: { query(): Promise<{ email: string }> } };
}
declare global {
  interface Window {
    auth: PageAuth;
    ready: boolean;
    createAuthClient(options: AuthClientOptions): PageAuth;
    localStorageStorage: typeof localStorageStorage;
    laggingStorage(lagMs: number): SessionStorage;
    checkHeldStorage(): SessionStorage;
    heldReads: (() => void)[];
    releaseRead(): void;
    fetchNoStore: typeof fetch;
    fetchArming: typeof fetch;
  }
}

describe.runIf(haveChromium)('in a real browser', () => {
  let database: TestDatabase;
  let server: ServedApp;
  let site: Server;
  let origin: string;
  let browser: Browser;
  let barrier: (() => void)[] | undefined;
  /** While set, refresh requests wait here until a test forwards them. */
  let refreshGate: (() => void)[] | undefined;
  let refreshDelayMs = 300;
  let refreshesArrived = 0;

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
      if (req.url?.startsWith('/trpc/auth.refresh')) {
        refreshesArrived += 1;
        if (refreshGate) return void refreshGate.push(() => forward(req, res));
        return void setTimeout(() => forward(req, res), refreshDelayMs);
      }
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

  /** Two tabs of the site in a fresh profile. */
  async function twoTabs(): Promise<[BrowserContext, Page, Page]> {
    const context = await browser.newContext();
    const [first, second] = [await context.newPage(), await context.newPage()];
    for (const page of [first, second]) {
      await page.goto(origin);
      await page.waitForFunction(() => window.ready === true);
    }
    return [context, first, second];
  }

  const refreshes = () => server.requests.filter((r) => r.path === '/trpc/auth.refresh');
  const me = (page: Page) => page.evaluate(() => window.auth.user.me.query().then((u) => u.email));
  const refreshToken = (page: Page) => page.evaluate(() => window.auth.session().then((s) => s?.refreshToken));

  const login = (page: Page, input: { email: string; password: string }) =>
    page.evaluate((credentials) => window.auth.login(credentials).then(() => undefined), { email: input.email, password: input.password });
  const email = (page: Page) => page.evaluate(() => window.auth.session().then((s) => s?.user?.email ?? null));
  /** Who the page's copy of the shared localStorage says is signed in, read afresh. */
  const storedEmail = (page: Page) =>
    page.evaluate(() =>
      window
        .localStorageStorage()
        .get()
        .then((s) => s?.session?.user?.email ?? null),
    );
  /** The appCode that user.me fails with in the page, or 'signed in'. */
  const meRefusal = (page: Page) =>
    page.evaluate(() =>
      window.auth.user.me.query().then(
        () => 'signed in',
        (e) => e.data?.appCode,
      ),
    );
  const lockWaiters = (page: Page) =>
    page.evaluate((name) => navigator.locks.query().then((state) => state.pending?.filter((lock) => lock.name === name).length ?? 0), LOCK);

  it('two tabs with expired access tokens calling at once make exactly one refresh and share the new session', async () => {
    const [context, first, second] = await twoTabs();
    const input = newUser('tab');
    await server.client().auth.register.mutate(input);
    await login(first, input);
    // The second tab picks the session up from the shared storage.
    await until(() => refreshToken(second));

    server.clock.advance(16 * 60);
    server.requests.length = 0;
    barrier = [];
    refreshGate = [];
    try {
      const emails = Promise.all([me(first), me(second)]);
      // One tab's refresh is at the server while the other tab waits for the lock.
      await until(() => refreshGate?.length === 1);
      await until(async () => (await lockWaiters(first)) === 1);
      for (const release of refreshGate.splice(0)) release();
      refreshGate = undefined;
      expect(await emails).toEqual([input.email, input.email]);
    } finally {
      barrier = undefined;
      refreshGate = undefined;
    }
    expect(refreshes()).toHaveLength(1);

    const tokens = await Promise.all([refreshToken(first), refreshToken(second)]);
    expect(tokens[0]).toBeDefined();
    expect(tokens[1]).toBe(tokens[0]);
    // Both keep working on the shared session, with no further refresh.
    await Promise.all([me(first), me(second)]);
    expect(refreshes()).toHaveLength(1);
    await context.close();
  });

  /** Two tabs signed in as a new user, the first with checkHeldStorage() and access tokens expired. */
  async function tabsWithExpiredTokens() {
    const [context, first, second] = await twoTabs();
    await first.evaluate(() => {
      window.auth = window.createAuthClient({ url: location.origin, storage: window.checkHeldStorage(), fetch: window.fetchArming });
    });
    const mine = newUser('tab');
    // Registering signs in too: that session ends at once, so the tabs' is the user's only one.
    const registered = await server.client().auth.register.mutate(mine);
    await server.client().auth.logout.mutate({ refreshToken: registered.refreshToken });
    await login(first, mine);
    await until(async () => (await email(second)) === mine.email);
    server.clock.advance(16 * 60);
    return { context, first, second, mine };
  }

  it("a login in another tab while this tab's refresh checks the storage is never overwritten by the refresh", async () => {
    const { context, first, second, mine } = await tabsWithExpiredTokens();
    const other = newUser('tab');
    await server.client().auth.register.mutate(other);
    const firstCall = me(first);
    await until(() => first.evaluate(() => window.heldReads.length === 1));
    const secondLogin = login(second, other);
    // The login is answered: the second tab is signed in as `other` while the first tab's refresh checks.
    await until(async () => (await email(second)) === other.email);
    await first.evaluate(() => window.releaseRead());
    await secondLogin;
    // The refresh came first, under the lock; the login was stored after it.
    expect(await firstCall).toBe(mine.email);
    // Each tab's copy of localStorage settles on the login, and the first tab follows it.
    for (const page of [first, second]) await until(async () => (await storedEmail(page)) === other.email);
    await until(async () => (await email(first)) === other.email);
    expect(await me(first)).toBe(other.email);
    expect(await me(second)).toBe(other.email);
    await context.close();
  });

  it("a logout in another tab while this tab's refresh checks the storage stays a logout, there and on the server", async () => {
    const { context, first, second, mine } = await tabsWithExpiredTokens();
    const firstCall = me(first);
    await until(() => first.evaluate(() => window.heldReads.length === 1));
    const secondLogout = second.evaluate(() => window.auth.logout());
    await until(async () => (await email(second)) === null);
    await first.evaluate(() => window.releaseRead());
    expect(await secondLogout).toEqual({ serverConfirmed: true });
    await firstCall.catch(() => undefined);
    for (const page of [first, second]) await until(async () => (await storedEmail(page)) === null);
    await until(async () => (await email(first)) === null);
    expect(await meRefusal(first)).toBe('ACCESS_TOKEN_MISSING');
    expect(await meRefusal(second)).toBe('ACCESS_TOKEN_MISSING');
    // The server was told of the session as the refresh left it: it has ended there too, and the
    // probe's own is the only one left.
    const probe = await server.client().auth.login.mutate({ email: mine.email, password: mine.password });
    if ('mfaRequired' in probe) throw new Error('this user has no second factor');
    await expect(server.client(() => probe.accessToken).auth.sessions.query()).resolves.toHaveLength(1);
    await context.close();
  });

  it("a tab that waited for another tab's refresh uses the tokens it stored, even when they reach it late", async () => {
    const [context, first, second] = await twoTabs();
    // The second tab sees the first tab's writes only 300 ms after they are made.
    await second.evaluate(() => {
      window.auth = window.createAuthClient({ url: location.origin, storage: window.laggingStorage(300), fetch: window.fetchNoStore });
    });
    const input = newUser('lag');
    await server.client().auth.register.mutate(input);
    await first.evaluate((credentials) => window.auth.login(credentials).then(() => undefined), {
      email: input.email,
      password: input.password,
    });
    // It learns of the session 300 ms late.
    await second.evaluate(async () => {
      while (!(await window.auth.session())) await new Promise((resolve) => setTimeout(resolve, 20));
    });

    server.clock.advance(16 * 60);
    server.requests.length = 0;
    refreshesArrived = 0;
    // The first tab's refresh is under way (and its lock held) when the second tab's call fails.
    refreshDelayMs = 1_000;
    try {
      const firstCall = me(first);
      await until(() => refreshesArrived === 1);
      const emails = await Promise.all([firstCall, me(second)]);
      expect(emails).toEqual([input.email, input.email]);
    } finally {
      refreshDelayMs = 300;
    }
    expect(refreshes()).toHaveLength(1);
    expect(await refreshToken(second)).toBe(await refreshToken(first));
    await context.close();
  });

  it('a tab goes ahead alone after lockTimeoutMs when another tab holds the refresh lock forever', async () => {
    const [context, holder, waiter] = await twoTabs();
    // A tab that hangs mid-refresh: it takes the client's lock and never lets go.
    await holder.evaluate(
      (name) =>
        new Promise<void>((granted) => {
          void navigator.locks.request(name, () => {
            granted();
            return new Promise<never>(() => {});
          });
        }),
      LOCK,
    );
    const input = newUser('lock');
    await server.client().auth.register.mutate(input);
    await waiter.evaluate(
      async (credentials) => {
        window.auth = window.createAuthClient({
          url: location.origin,
          storage: window.localStorageStorage(),
          fetch: window.fetchNoStore,
          lockTimeoutMs: 1_000,
        });
        await window.auth.login(credentials);
      },
      { email: input.email, password: input.password },
    );

    server.clock.advance(16 * 60);
    server.requests.length = 0;
    const started = Date.now();
    await expect(me(waiter)).resolves.toBe(input.email);
    // It waited for the lock first, then refreshed on its own.
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect(refreshes().map((r) => r.status)).toEqual([200]);
    const stillHeld = await holder.evaluate(
      (name) => navigator.locks.query().then((state) => state.held?.some((lock) => lock.name === name) ?? false),
      LOCK,
    );
    expect(stillHeld).toBe(true);
    await context.close();
  });
});
