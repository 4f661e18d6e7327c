import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A stand-in for GitHub's OAuth 2 web flow (github.com/login/oauth/* and api.github.com/user*)
 * on a free port of 127.0.0.1, both hosts' paths on the one origin `url`. GitHub is not OpenID
 * Connect: no discovery, no ID token, no `iss` in the callback, and its token endpoint answers
 * errors with status 200. The double keeps those shapes.
 */
export interface GitHubDouble {
  /** `http://127.0.0.1:<port>`; the endpoints are `${url}/login/oauth/authorize`, `${url}/login/oauth/access_token`, `${url}/user`, `${url}/user/emails`. */
  readonly url: string;
  readonly authorizationEndpoint: string;
  readonly tokenEndpoint: string;
  readonly clientId: string;
  readonly clientSecret: string;
  /** Adds a user, or replaces the one with that id. */
  addUser(user: GitHubUser): void;
  /**
   * The user the next authorizations approve as, until changed. With none chosen, or an unknown
   * id, the authorization ends as a user who declined: `error=access_denied` on the redirect_uri.
   */
  nextLogin(id: number | undefined): void;
  /** GETs the authorization URL and resolves to the Location it redirects to (not fetched). */
  authorize(authorizationUrl: string | URL): Promise<URL>;
  close(): Promise<void>;
}

export interface GitHubUser {
  id: number;
  login: string;
  name?: string;
  emails: { email: string; primary: boolean; verified: boolean }[];
}

export interface GitHubDoubleOptions {
  clientId?: string;
  /** Random by default. */
  clientSecret?: string;
  /**
   * The app's registered callback URL. When given, an authorization whose redirect_uri does not
   * start with it is refused (GitHub allows a subdirectory of the callback URL); by default any.
   */
  callbackUrl?: string;
}

interface IssuedCode {
  clientId: string;
  redirectUri: string | undefined;
  scope: string;
  userId: number;
  codeChallenge: string | undefined;
  expiresAt: number;
}

/** GitHub answers token errors with 200 and these bodies. */
const TOKEN_ERRORS = {
  incorrect_client_credentials: 'The client_id and/or client_secret passed are incorrect.',
  bad_verification_code: 'The code passed is incorrect or expired.',
  redirect_uri_mismatch: 'The redirect_uri MUST match the registered callback URL for this application.',
} as const;

export async function startGitHubDouble(options: GitHubDoubleOptions = {}): Promise<GitHubDouble> {
  const clientId = options.clientId ?? `Iv1.${randomBytes(8).toString('hex')}`;
  const clientSecret = options.clientSecret ?? randomBytes(20).toString('hex');
  const users = new Map<number, GitHubUser>();
  const codes = new Map<string, IssuedCode>();
  const tokens = new Map<string, { userId: number; scope: string }>();
  let chosen: number | undefined;

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(`github double failed: ${error instanceof Error ? error.message : String(error)}`);
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://github.invalid');
    const route = `${req.method} ${url.pathname}`;
    if (route === 'GET /login/oauth/authorize') return authorizeEndpoint(url, res);
    if (route === 'POST /login/oauth/access_token') return tokenEndpoint(req, url, res);
    if (route === 'GET /user' || route === 'GET /user/emails') return api(req, url.pathname, res);
    json(res, 404, { message: 'Not Found', documentation_url: 'https://docs.github.com/rest' });
  }

  function authorizeEndpoint(url: URL, res: ServerResponse): void {
    const query = url.searchParams;
    if (query.get('client_id') !== clientId) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('unknown client_id');
      return;
    }
    const redirectUri = query.get('redirect_uri') ?? undefined;
    const target = redirectUri ?? options.callbackUrl;
    if (!target || (options.callbackUrl && !target.startsWith(options.callbackUrl))) {
      res.writeHead(400, { 'content-type': 'text/plain' }).end('redirect_uri_mismatch');
      return;
    }
    const back = new URL(target);
    const state = query.get('state');
    const user = chosen === undefined ? undefined : users.get(chosen);
    const challenge = query.get('code_challenge') ?? undefined;
    const method = query.get('code_challenge_method');
    if (!user) {
      back.searchParams.set('error', 'access_denied');
      back.searchParams.set('error_description', 'The user has denied your application access.');
    } else if (challenge !== undefined && method !== 'S256') {
      back.searchParams.set('error', 'invalid_request');
      back.searchParams.set('error_description', 'code_challenge_method must be S256.');
    } else {
      const code = randomBytes(10).toString('hex');
      codes.set(code, {
        clientId,
        redirectUri,
        scope: (query.get('scope') ?? '')
          .split(/[\s,]+/)
          .filter(Boolean)
          .join(','),
        userId: user.id,
        codeChallenge: challenge,
        expiresAt: Date.now() + 10 * 60_000,
      });
      back.searchParams.set('code', code);
    }
    if (state !== null) back.searchParams.set('state', state);
    res.writeHead(302, { location: back.href }).end();
  }

  async function tokenEndpoint(req: IncomingMessage, url: URL, res: ServerResponse): Promise<void> {
    const params = new URLSearchParams(url.search);
    const raw = await readBody(req);
    if (/application\/json/i.test(req.headers['content-type'] ?? '')) {
      for (const [key, value] of Object.entries(JSON.parse(raw || '{}') as Record<string, unknown>)) params.set(key, String(value));
    } else {
      for (const [key, value] of new URLSearchParams(raw)) params.set(key, value);
    }
    const basic = /^Basic\s+(.+)$/i.exec(req.headers.authorization ?? '');
    if (basic?.[1]) {
      const decoded = Buffer.from(basic[1], 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      params.set('client_id', decodeURIComponent(decoded.slice(0, colon)));
      params.set('client_secret', decodeURIComponent(decoded.slice(colon + 1)));
    }
    const answer = (body: Record<string, string>) => {
      if (/application\/json/i.test(req.headers.accept ?? '')) json(res, 200, body);
      else
        res
          .writeHead(200, { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' })
          .end(new URLSearchParams(body).toString());
    };
    const fail = (error: keyof typeof TOKEN_ERRORS) =>
      answer({
        error,
        error_description: TOKEN_ERRORS[error],
        error_uri: `https://docs.github.com/apps/troubleshooting-oauth-errors#${error.replaceAll('_', '-')}`,
      });

    if (params.get('client_id') !== clientId || !sameSecret(params.get('client_secret') ?? '', clientSecret))
      return fail('incorrect_client_credentials');
    const code = params.get('code') ?? '';
    const issued = codes.get(code);
    codes.delete(code); // a code works once, whatever happens next
    if (!issued || issued.expiresAt <= Date.now() || issued.clientId !== clientId) return fail('bad_verification_code');
    const redirectUri = params.get('redirect_uri');
    if (redirectUri !== null && issued.redirectUri !== undefined && redirectUri !== issued.redirectUri)
      return fail('redirect_uri_mismatch');
    if (issued.codeChallenge !== undefined) {
      const verifier = params.get('code_verifier') ?? '';
      if (createHash('sha256').update(verifier).digest('base64url') !== issued.codeChallenge) return fail('bad_verification_code');
    }
    const accessToken = `gho_${randomBytes(18).toString('base64url')}`;
    tokens.set(accessToken, { userId: issued.userId, scope: issued.scope });
    answer({ access_token: accessToken, token_type: 'bearer', scope: issued.scope });
  }

  function api(req: IncomingMessage, path: string, res: ServerResponse): void {
    const presented = /^(?:Bearer|token)\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
    const token = presented === undefined ? undefined : tokens.get(presented);
    const user = token && users.get(token.userId);
    if (!token || !user) {
      json(res, 401, { message: 'Requires authentication', documentation_url: 'https://docs.github.com/rest', status: '401' });
      return;
    }
    const scopes = token.scope.split(',').filter(Boolean);
    const headers = { 'x-oauth-scopes': scopes.join(', ') };
    if (path === '/user') {
      json(res, 200, { login: user.login, id: user.id, type: 'User', name: user.name ?? null, email: null }, headers);
      return;
    }
    // The email addresses need the user:email (or user) scope.
    if (!scopes.includes('user:email') && !scopes.includes('user')) {
      json(res, 404, { message: 'Not Found', documentation_url: 'https://docs.github.com/rest/users/emails', status: '404' }, headers);
      return;
    }
    json(
      res,
      200,
      user.emails.map((e) => ({ email: e.email, primary: e.primary, verified: e.verified, visibility: e.primary ? 'private' : null })),
      headers,
    );
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url: base,
    authorizationEndpoint: `${base}/login/oauth/authorize`,
    tokenEndpoint: `${base}/login/oauth/access_token`,
    clientId,
    clientSecret,
    addUser(user) {
      users.set(user.id, { ...user, emails: user.emails.map((e) => ({ ...e })) });
    },
    nextLogin(id) {
      chosen = id;
    },
    async authorize(authorizationUrl) {
      const response = await fetch(authorizationUrl, { redirect: 'manual' });
      const location = response.headers.get('location');
      if (response.status !== 302 || !location)
        throw new Error(`the GitHub double answered ${response.status}: ${(await response.text()).slice(0, 300)}`);
      await response.body?.cancel();
      return new URL(location);
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers }).end(JSON.stringify(body));
}

function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > 64 * 1024) throw new Error('request body over 64 KiB');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}
