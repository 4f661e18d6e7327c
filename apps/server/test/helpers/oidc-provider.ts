import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Adapter, AdapterPayload, Configuration, default as Provider } from 'oidc-provider';
import { CookieJar } from './cookie-jar.js';

export { CookieJar } from './cookie-jar.js';

/**
 * A real OpenID provider (`oidc-provider` 9) on a free port of 127.0.0.1, for the sign-in tests:
 * one confidential client, PKCE S256 required, userinfo, ID tokens signed with a key made at start,
 * and login plus consent completed without a user for the account chosen with `nextLogin()`.
 */
export interface TestOidcProvider {
  /** `http://127.0.0.1:<port>`, the issuer identifier (no trailing slash) and the discovery base. */
  readonly issuer: string;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly redirectUris: readonly string[];
  /** Adds an account, or replaces the one with that `sub` (to change its email between flows). */
  addAccount(account: TestOidcAccount): void;
  /**
   * The account the next interactions sign in as, until changed. With none chosen, or an unknown
   * `sub`, the interaction ends as a user who cancelled: `error=access_denied` on the redirect_uri.
   */
  nextLogin(sub: string | undefined): void;
  /**
   * Plays the browser: GETs the authorization URL and follows the provider's redirects (through the
   * interaction, keeping the provider's cookies in `jar`) until one leaves the provider, and
   * resolves to that Location (the client's redirect_uri with `code`, `state` and `iss`, or with
   * `error`), without fetching it. Rejects when the provider answers with a page instead (an
   * unknown client or a redirect_uri not registered). A new jar each call by default: a browser
   * with no session at the provider, so `nextLogin()` decides; pass one jar to several calls to
   * keep the provider's session (then a second flow signs in as the session's account, no login).
   */
  authorize(authorizationUrl: string | URL, jar?: CookieJar): Promise<URL>;
  /** The `oidc-provider` instance, e.g. for its events (`provider.on('grant.success', ...)`). */
  readonly provider: Provider;
  /** Stops listening; the issuer then refuses connections (a provider that cannot be reached). */
  close(): Promise<void>;
}

export interface TestOidcAccount {
  sub: string;
  email: string;
  email_verified: boolean;
  name?: string;
  preferred_username?: string;
}

export interface OidcProviderOptions {
  /** The client's redirect_uri(s): exact strings, as the server under test will send them. */
  redirectUris: string | readonly string[];
  clientId?: string;
  /** Random by default. */
  clientSecret?: string;
  /** How the client authenticates at the token endpoint; default `client_secret_basic`. */
  tokenEndpointAuthMethod?: 'client_secret_basic' | 'client_secret_post';
  /** The ID token's signature; default RS256 (a 2048-bit RSA key made at start). */
  idTokenSigningAlg?: 'RS256' | 'ES256';
  /**
   * Whether the ID token carries the claims of the scopes (email, email_verified, name,
   * preferred_username), as Google's does; default true. With false, oidc-provider's own default
   * (`conformIdTokenClaims`): the ID token of the code flow has `sub` and no profile claims, which
   * come from userinfo only.
   */
  scopeClaimsInIdToken?: boolean;
}

type ProviderModule = typeof import('oidc-provider');
let loaded: Promise<ProviderModule> | undefined;

/**
 * oidc-provider warns once, when imported, that it wants Node 22 ("Unsupported runtime"); it runs
 * on Node 20 all the same. That one line is kept out of the test output.
 */
function loadOidcProvider(): Promise<ProviderModule> {
  loaded ??= (async () => {
    const warn = console.warn;
    console.warn = (...args: unknown[]) => {
      if (typeof args[0] === 'string' && args[0].includes('oidc-provider WARNING: Unsupported runtime')) return;
      warn(...args);
    };
    try {
      return await import('oidc-provider');
    } finally {
      console.warn = warn;
    }
  })();
  return loaded;
}

export async function startOidcProvider(options: OidcProviderOptions): Promise<TestOidcProvider> {
  const { default: OidcProvider } = await loadOidcProvider();
  const redirectUris = typeof options.redirectUris === 'string' ? [options.redirectUris] : [...options.redirectUris];
  const clientId = options.clientId ?? 'latchkey-test-client';
  const clientSecret = options.clientSecret ?? randomBytes(24).toString('base64url');
  const alg = options.idTokenSigningAlg ?? 'RS256';
  const accounts = new Map<string, TestOidcAccount>();
  let chosen: string | undefined;

  let handler: ((req: IncomingMessage, res: ServerResponse) => void) | undefined;
  const server = createServer((req, res) => {
    if (handler) handler(req, res);
    else res.writeHead(503).end();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const { privateKey } =
    alg === 'ES256' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = { ...privateKey.export({ format: 'jwk' }), use: 'sig', alg, kid: randomBytes(8).toString('base64url') };

  const configuration: Configuration = {
    adapter: memoryAdapter(),
    clients: [
      {
        client_id: clientId,
        client_secret: clientSecret,
        redirect_uris: redirectUris,
        grant_types: ['authorization_code'],
        response_types: ['code'],
        token_endpoint_auth_method: options.tokenEndpointAuthMethod ?? 'client_secret_basic',
        id_token_signed_response_alg: alg,
      },
    ],
    jwks: { keys: [jwk] },
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name', 'preferred_username'] },
    conformIdTokenClaims: options.scopeClaimsInIdToken === false,
    // Confidential clients may skip PKCE by oidc-provider's default: here every request needs it
    // (and oidc-provider 9 knows S256 only).
    pkce: { required: () => true },
    features: { devInteractions: { enabled: false }, userinfo: { enabled: true } },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    // Numbers rather than oidc-provider's default functions, which print a notice when called.
    ttl: { AccessToken: 600, AuthorizationCode: 60, IdToken: 600, Interaction: 600, Session: 3600, Grant: 3600 },
    clientBasedCORS: () => false,
    // oidc-provider's default error page prints a notice when used; this one says the same.
    renderError(ctx, out) {
      ctx.type = 'text/plain';
      ctx.body = `${out.error}: ${out.error_description ?? ''}`;
    },
    async findAccount(_ctx, sub) {
      const account = accounts.get(sub);
      if (!account) return undefined;
      return {
        accountId: sub,
        // oidc-provider keeps only the claims of the granted scopes.
        claims: () => {
          const { sub: _, ...claims } = accounts.get(sub) ?? account;
          return { sub, ...Object.fromEntries(Object.entries(claims).filter(([, value]) => value !== undefined)) };
        },
      };
    },
  };
  const provider = new OidcProvider(issuer, configuration);

  /** Login and consent at once, for the chosen account: a Grant of what the client asked for. */
  async function interaction(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const details = await provider.interactionDetails(req, res);
    const { prompt, params } = details;
    const client = String(params.client_id);
    if (prompt.name === 'login') {
      const sub = chosen;
      if (sub === undefined || !accounts.has(sub)) {
        const description = sub === undefined ? 'no account chosen with nextLogin()' : `no account ${sub}`;
        await provider.interactionFinished(
          req,
          res,
          { error: 'access_denied', error_description: description },
          { mergeWithLastSubmission: false },
        );
        return;
      }
      const grant = new provider.Grant({ accountId: sub, clientId: client });
      grant.addOIDCScope(String(params.scope ?? 'openid'));
      const grantId = await grant.save();
      await provider.interactionFinished(req, res, { login: { accountId: sub }, consent: { grantId } }, { mergeWithLastSubmission: false });
      return;
    }
    if (prompt.name === 'consent') {
      // A session at the provider already (a jar kept between flows) that lacks a grant for this.
      const accountId = details.session?.accountId;
      if (!accountId) throw new Error('consent prompt without a session');
      const grant =
        (details.grantId ? await provider.Grant.find(details.grantId) : undefined) ?? new provider.Grant({ accountId, clientId: client });
      const missing = prompt.details as { missingOIDCScope?: string[]; missingOIDCClaims?: string[] };
      grant.addOIDCScope(missing.missingOIDCScope ?? String(params.scope ?? 'openid').split(' '));
      if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
      const grantId = await grant.save();
      await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
      return;
    }
    throw new Error(`no automatic answer to the prompt ${prompt.name}`);
  }

  const callback = provider.callback();
  handler = (req, res) => {
    if (req.method === 'GET' && /^\/interaction\/[^/?]+(\?|$)/.test(req.url ?? '')) {
      interaction(req, res).catch((error: unknown) => {
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(`test interaction failed: ${error instanceof Error ? error.message : String(error)}`);
      });
      return;
    }
    callback(req, res);
  };

  return {
    issuer,
    clientId,
    clientSecret,
    redirectUris,
    provider,
    addAccount(account) {
      accounts.set(account.sub, { ...account });
    },
    nextLogin(sub) {
      chosen = sub;
    },
    async authorize(authorizationUrl, jar = new CookieJar()) {
      const origin = new URL(issuer).origin;
      let url = new URL(authorizationUrl);
      for (let hop = 0; hop < 10; hop += 1) {
        const response = await fetch(url, { redirect: 'manual', headers: { cookie: jar.header(url) } });
        jar.store(url, response.headers.getSetCookie());
        const location = response.headers.get('location');
        if (response.status < 300 || response.status > 399 || !location) {
          const body = (await response.text())
            .replace(/<[^>]*>/g, ' ')
            .replace(/\s+/g, ' ')
            .trim();
          throw new Error(`the provider answered ${url.pathname} with ${response.status} instead of a redirect: ${body.slice(0, 300)}`);
        }
        await response.body?.cancel();
        url = new URL(location, url);
        const target = `${url.origin}${url.pathname}`;
        if (url.origin !== origin || redirectUris.includes(target)) return url;
      }
      throw new Error('the provider redirected more than 10 times');
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}

/**
 * oidc-provider's store, in memory and of this provider only: its own in-memory adapter would do
 * but prints a warning (development only) at every start.
 */
function memoryAdapter(): (name: string) => Adapter {
  const entries = new Map<string, { payload: AdapterPayload; expiresAt: number }>();
  const live = (key: string) => {
    const entry = entries.get(key);
    if (entry && entry.expiresAt <= Date.now()) entries.delete(key);
    return entry && entry.expiresAt > Date.now() ? entry.payload : undefined;
  };
  return (name) => {
    const key = (id: string) => `${name}:${id}`;
    return {
      async upsert(id, payload, expiresIn) {
        entries.set(key(id), { payload: { ...payload }, expiresAt: expiresIn ? Date.now() + expiresIn * 1000 : Number.POSITIVE_INFINITY });
      },
      async find(id) {
        return live(key(id));
      },
      async findByUid(uid) {
        for (const [k, entry] of entries) if (k.startsWith(`${name}:`) && entry.payload.uid === uid) return live(k);
        return undefined;
      },
      async findByUserCode(userCode) {
        for (const [k, entry] of entries) if (k.startsWith(`${name}:`) && entry.payload.userCode === userCode) return live(k);
        return undefined;
      },
      async consume(id) {
        const payload = live(key(id));
        if (payload) payload.consumed = Math.floor(Date.now() / 1000);
      },
      async destroy(id) {
        entries.delete(key(id));
      },
      async revokeByGrantId(grantId) {
        for (const [k, entry] of entries) if (k.startsWith(`${name}:`) && entry.payload.grantId === grantId) entries.delete(k);
      },
    };
  };
}
