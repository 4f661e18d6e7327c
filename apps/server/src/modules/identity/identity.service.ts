/**
 * External identities: signing in with an OpenID Connect provider (or GitHub), linking one to the
 * signed-in account and unlinking it. An identity is found by (issuer, subject), never by email.
 * A new identity whose email a local account has is linked only when the provider says the email
 * is verified and the local address is verified too; otherwise nothing is linked (the
 * pre-hijacking attacks). The browser gets no token in any URL: the callback hands the app a
 * one-time code in the fragment, exchanged for the session by `exchangeCode`.
 */
import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import * as oidc from 'openid-client';
import type { Config, ProviderConfig } from '../../config.js';
import type { Db } from '../../db/database.js';
import { isUniqueViolation } from '../../db/errors.js';
import type { IdentityRow, OidcFlowRow, UserRow } from '../../db/schema.js';
import type { Clock } from '../../lib/clock.js';
import { type AppCode, AppError } from '../../lib/errors.js';
import { digestOf, newOpaqueToken } from '../../lib/opaque-token.js';
import type { SecretBox } from '../../lib/secret-box.js';
import type { MfaRequired, Session, SignInService } from '../account/sign-in.service.js';
import type { AuditService } from '../audit/audit.service.js';
import type { MfaService } from '../mfa/mfa.service.js';
import { countPasskeys } from '../mfa/passkey.service.js';
import type { Authenticated, ClientInfo } from '../session/session.service.js';
import { LIMITS, throttleKey } from '../throttle/throttle.policy.js';
import type { Throttle } from '../throttle/throttle.service.js';
import { emailSchema } from '../user/user.schemas.js';
import type { UserService } from '../user/user.service.js';
import {
  bindLinkFlow,
  consumeCode,
  consumeFlow,
  countIdentities,
  deleteIdentity,
  findIdentities,
  findIdentity,
  insertCode,
  insertFlow,
  insertIdentity,
  touchIdentity,
} from './identity.repository.js';
import { type CallbackFailure, type ExternalProfile, type ProviderClient, ProviderError, providerClient } from './oidc-client.js';

export { deleteExpiredFlows } from './identity.repository.js';
export { countIdentities };

/** A sign-in flow lives this long between the start and the callback. */
export const FLOW_TTL_SECONDS = 10 * 60;
/** The callback's one-time code lives this long. */
export const CODE_TTL_SECONDS = 60;
/** The cookie that binds a flow to the browser that started it, one per provider. */
export const flowCookieName = (provider: string) => `latchkey_oidc_${provider}`;

export interface Identity {
  id: string;
  provider: string;
  email: string | null;
  emailVerified: boolean;
  createdAt: Date;
  lastUsedAt: Date | null;
}

/** What the HTTP layer sends: a redirect (with the cookie to set), or a page of its own for a request that names no allowed place to go back to. */
export type FlowAnswer =
  | { kind: 'redirect'; location: string; cookie?: string }
  | { kind: 'page'; status: 400 | 404 | 429; message: string };

export interface IdentityDeps {
  db: Db;
  clock: Clock;
  config: Pick<Readonly<Config>, 'baseUrl' | 'providers' | 'allowedRedirects'>;
  users: UserService;
  throttle: Throttle;
  audit: AuditService;
  mfa: MfaService;
  signIn: SignInService;
  /** Seals each flow's nonce and PKCE verifier at rest. */
  secretBox: SecretBox;
  /** Provider clients by id (tests may give their own; default: openid-client from the configuration). */
  clients?: ReadonlyMap<string, ProviderClient>;
}

const identityOf = (row: IdentityRow): Identity => ({
  id: row.id,
  provider: row.provider,
  email: row.email,
  emailVerified: row.email_verified,
  createdAt: row.created_at,
  lastUsedAt: row.last_used_at,
});

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest();

/** Whether `url` may receive the browser back: one of the exact origins, or under one of the prefixes. */
export function redirectAllowed(url: string, allowed: readonly string[]): boolean {
  if (url.length > 2048 || !URL.canParse(url)) return false;
  const target = new URL(url);
  if ((target.protocol !== 'https:' && target.protocol !== 'http:') || target.username || target.password) return false;
  return allowed.some((entry) => {
    const prefix = new URL(entry);
    if (target.origin !== prefix.origin) return false;
    // A prefix ends at a path segment: /auth allows /auth and /auth/..., not /authority.
    const path = prefix.pathname.endsWith('/') ? prefix.pathname : `${prefix.pathname}/`;
    return target.pathname === prefix.pathname || target.pathname.startsWith(path);
  });
}

/** `redirect_to` with the fragment: `#code=...` or `#error=<appCode>` (the fragment never reaches a server). */
function back(redirectTo: string, fragment: { code: string } | { linkCode: string } | { error: AppCode }): FlowAnswer {
  const url = new URL(redirectTo);
  url.hash =
    'code' in fragment ? `code=${fragment.code}` : 'linkCode' in fragment ? `link_code=${fragment.linkCode}` : `error=${fragment.error}`;
  return { kind: 'redirect', location: url.href };
}

/** A username for a new account from the provider's, its name or its email: letters, digits, . _ - only. */
function usernameFrom(profile: ExternalProfile): string {
  const base = (profile.username ?? profile.name ?? profile.email?.split('@')[0] ?? 'user')
    .normalize('NFKC')
    .replace(/[^\p{L}\p{N}._-]+/gu, '')
    .slice(0, 40);
  return base.length >= 3 ? base : `user${base}`;
}

export function createIdentityService(deps: IdentityDeps) {
  const { db, clock, config, users, throttle, audit, mfa, signIn, secretBox } = deps;
  const providers = new Map(config.providers.map((provider) => [provider.id, provider]));
  const clients = new Map<string, ProviderClient>(deps.clients ?? []);
  const clientOf = (provider: Readonly<ProviderConfig>): ProviderClient => {
    let client = clients.get(provider.id);
    if (!client) {
      client = providerClient(provider);
      clients.set(provider.id, client);
    }
    return client;
  };
  const callbackUrl = (provider: string) => `${config.baseUrl}/auth/oidc/${provider}/callback`;
  const secure = config.baseUrl.startsWith('https:');
  const flowContext = (flowId: string) => `oidc-flow:${flowId}`;

  const failed = (
    userId: string | null,
    reason: CallbackFailure | 'link_required' | 'disabled' | 'email_unverified' | 'email_unusable' | 'throttled',
    client: ClientInfo,
    provider: string,
  ) => audit.record(db, { type: 'login.failed', userId, client, details: { reason, provider } });

  /**
   * The account an external profile signs in to, creating or linking it as the rules say; an
   * appCode when none. A link flow resolves to nothing here: its identity waits for the user's
   * confirmation (linkComplete).
   */
  async function resolveAccount(
    provider: string,
    profile: ExternalProfile,
    client: ClientInfo,
  ): Promise<{ user: UserRow; identity: IdentityRow } | { error: AppCode }> {
    const now = clock.now();
    const known = await findIdentity(db, profile.issuer, profile.subject);
    if (known) {
      await touchIdentity(db, known.id, { email: profile.email, emailVerified: profile.emailVerified, now });
      const user = await users.findById(known.user_id);
      return user ? { user, identity: known } : { error: 'OIDC_STATE_INVALID' };
    }
    // The address as our rules hold it. One that normalising changed (look-alike letters that
    // NFKC folds into another address) is not the one the provider verified.
    const parsed = profile.email === null ? undefined : emailSchema.safeParse(profile.email);
    if (!parsed?.success) {
      await failed(null, 'email_unusable', client, provider);
      return { error: 'OIDC_RESPONSE_INVALID' };
    }
    const email = parsed.data;
    const verified = profile.emailVerified && email === profile.email?.trim();
    const local = await users.findByEmail(email);
    if (local) {
      // Both sides must have proven the address; an unverified one may be an attacker's squat.
      if (!verified || local.email_verified_at === null) {
        await failed(local.id, 'link_required', client, provider);
        return { error: 'IDENTITY_LINK_REQUIRED' };
      }
      if (local.disabled_at !== null) {
        await failed(local.id, 'disabled', client, provider);
        return { error: 'ACCOUNT_DISABLED' };
      }
      const identity = await link(local, provider, { ...profile, email }, now, client, 'verified email');
      return identity ? { user: local, identity } : { error: 'IDENTITY_IN_USE' };
    }
    // No account is made from an address the provider does not vouch for: its owner, proving it
    // later by a reset or a verification link, would inherit an identity somebody else holds.
    if (!verified) {
      await failed(null, 'email_unverified', client, provider);
      return { error: 'PROVIDER_EMAIL_UNVERIFIED' };
    }
    return createAccount(provider, { ...profile, email, emailVerified: true }, now, client);
  }

  async function link(
    user: UserRow,
    provider: string,
    profile: ExternalProfile,
    now: Date,
    client: ClientInfo,
    how: 'verified email' | 'linked by its owner' | 'new account',
    trx: Db = db,
  ): Promise<IdentityRow | undefined> {
    const write = async (t: Db) => {
      const identity = await insertIdentity(t, {
        id: randomUUID(),
        user_id: user.id,
        provider,
        issuer: profile.issuer,
        subject: profile.subject,
        email: profile.email,
        email_verified: profile.emailVerified,
        created_at: now,
      });
      if (identity)
        await audit.record(t, { type: 'identity.linked', userId: user.id, client, details: { identityId: identity.id, provider, how } });
      return identity;
    };
    return trx === db ? db.transaction().execute(write) : write(trx);
  }

  /** A new account for an identity no account has, whose email (verified by the provider) no account has: no password. */
  async function createAccount(
    provider: string,
    profile: ExternalProfile,
    now: Date,
    client: ClientInfo,
  ): Promise<{ user: UserRow; identity: IdentityRow } | { error: AppCode }> {
    const base = usernameFrom(profile);
    for (let attempt = 0; attempt < 5; attempt += 1) {
      const username = attempt === 0 ? base : `${base.slice(0, 40)}-${randomBytes(3).toString('hex')}`;
      try {
        const created = await db.transaction().execute(async (trx) => {
          const user = await users.insert(
            {
              id: randomUUID(),
              email: profile.email ?? '',
              username,
              password_hash: null,
              bio: null,
              image: null,
              email_verified_at: now,
              created_at: now,
              updated_at: now,
            },
            trx,
          );
          await audit.record(trx, { type: 'user.registered', userId: user.id, client });
          const identity = await link(user, provider, profile, now, client, 'new account', trx);
          if (!identity) throw new AppError('IDENTITY_IN_USE');
          return { user, identity };
        });
        return created;
      } catch (error) {
        if (error instanceof AppError) return { error: error.appCode };
        if (!isUniqueViolation(error)) throw error;
        // The email was taken meanwhile: the rules for a local account apply on the next sign-in.
        if (await users.findByEmail(profile.email ?? '')) return { error: 'IDENTITY_LINK_REQUIRED' };
      }
    }
    return { error: 'USERNAME_TAKEN' };
  }

  interface FlowSecrets {
    state: string;
    nonce: string;
    codeVerifier: string;
  }

  const flowCookie = (provider: string, browser: string) =>
    [
      `${flowCookieName(provider)}=${browser}`,
      `Path=/auth/oidc/${provider}/callback`,
      `Max-Age=${FLOW_TTL_SECONDS}`,
      'HttpOnly',
      'SameSite=Lax',
      ...(secure ? ['Secure'] : []),
    ].join('; ');

  async function authorizationUrl(provider: Readonly<ProviderConfig>, secrets: FlowSecrets): Promise<URL> {
    return clientOf(provider).authorizationUrl({
      redirectUri: callbackUrl(provider.id),
      state: secrets.state,
      nonce: secrets.nonce,
      codeChallenge: await oidc.calculatePKCECodeChallenge(secrets.codeVerifier),
    });
  }

  function openFlowSecrets(flow: OidcFlowRow): FlowSecrets | undefined {
    const opened = secretBox.openDetailed(flow.secrets_sealed, flowContext(flow.id));
    return opened ? (JSON.parse(opened.plaintext.toString('utf8')) as FlowSecrets) : undefined;
  }

  /** A new flow: its state, nonce and PKCE verifier (sealed), and the provider's authorization URL (discovery first: a provider that cannot be reached stores nothing). */
  async function prepareFlow(
    provider: Readonly<ProviderConfig>,
    flow: { redirectTo: string; purpose: 'sign_in' | 'link'; userId: string | null; browserDigest: string; linkTicketDigest?: string },
  ): Promise<{ location: URL }> {
    const secrets: FlowSecrets = { state: oidc.randomState(), nonce: oidc.randomNonce(), codeVerifier: oidc.randomPKCECodeVerifier() };
    const location = await authorizationUrl(provider, secrets);
    const now = clock.now();
    const id = randomUUID();
    await insertFlow(db, {
      id,
      stateDigest: digestOf(secrets.state),
      browserDigest: flow.browserDigest,
      linkTicketDigest: flow.linkTicketDigest ?? null,
      provider: provider.id,
      purpose: flow.purpose,
      userId: flow.userId,
      secretsSealed: secretBox.seal(Buffer.from(JSON.stringify(secrets), 'utf8'), flowContext(id)),
      // As parsed: the URL the allow-list judged (a raw one may hold what the parser drops).
      redirectTo: new URL(flow.redirectTo).href,
      now,
      expiresAt: new Date(now.getTime() + FLOW_TTL_SECONDS * 1000),
    });
    return { location };
  }

  const service = {
    /** The configured providers, for a sign-in page. */
    providers(): { id: string; name: string }[] {
      return config.providers.map((provider) => ({ id: provider.id, name: provider.name }));
    },

    /**
     * Starts a sign-in: 302 to the provider with PKCE S256, state and nonce, the flow kept (its
     * state as a digest, single use, 10 minutes) and bound to this browser by an HttpOnly cookie.
     * With `link` (a ticket of auth.identities.linkStart), the signed-in user's link flow made
     * then is bound to this browser instead.
     */
    async start(
      providerId: string,
      query: { redirectTo?: string | undefined; link?: string | undefined },
      client: ClientInfo,
    ): Promise<FlowAnswer> {
      const provider = providers.get(providerId);
      if (!provider) return { kind: 'page', status: 404, message: 'No such sign-in provider.' };
      const now = clock.now();
      const verdict = await throttle.hit(throttleKey.oidcFlowAddress(client.ip), LIMITS.oidcFlowsPerAddress, now);
      if (!verdict.allowed) return { kind: 'page', status: 429, message: 'Too many sign-in attempts from this address: try again later.' };
      const browser = randomBytes(32).toString('base64url');
      if (query.link !== undefined) {
        const flow = query.link.length <= 128 ? await bindLinkFlow(db, digestOf(query.link), digestOf(browser), now) : undefined;
        if (!flow || flow.provider !== provider.id)
          return { kind: 'page', status: 400, message: 'This link is invalid or was already used. Start again from your account page.' };
        const secrets = openFlowSecrets(flow);
        if (!secrets) return { kind: 'page', status: 400, message: 'This link is invalid. Start again from your account page.' };
        try {
          const location = await authorizationUrl(provider, secrets);
          return { kind: 'redirect', location: location.href, cookie: flowCookie(provider.id, browser) };
        } catch {
          return back(flow.redirect_to, { error: 'PROVIDER_UNAVAILABLE' });
        }
      }
      const redirectTo = query.redirectTo;
      if (redirectTo === undefined || !redirectAllowed(redirectTo, config.allowedRedirects))
        return { kind: 'page', status: 400, message: 'redirect_to is missing or not an allowed address (ALLOWED_REDIRECTS).' };
      try {
        const { location } = await prepareFlow(provider, {
          redirectTo,
          purpose: 'sign_in',
          userId: null,
          browserDigest: digestOf(browser),
        });
        return { kind: 'redirect', location: location.href, cookie: flowCookie(provider.id, browser) };
      } catch (error) {
        if (!(error instanceof ProviderError)) throw error;
        return back(redirectTo, { error: 'PROVIDER_UNAVAILABLE' });
      }
    },

    /**
     * The provider's answer: the flow of its state (used up, pass or fail), the browser's cookie,
     * then the code exchange and the ID token's checks, then the account. Back to `redirect_to`
     * with a one-time code, or an error; a 400 page when the state names no flow.
     */
    async callback(providerId: string, url: URL, cookieHeader: string | undefined, client: ClientInfo): Promise<FlowAnswer> {
      const provider = providers.get(providerId);
      if (!provider) return { kind: 'page', status: 404, message: 'No such sign-in provider.' };
      // Counted before anything is looked up or recorded: made-up states cost their sender.
      const counted = await throttle.hit(throttleKey.oidcCallbackAddress(client.ip), LIMITS.oidcCallbacksPerAddress, clock.now());
      if (!counted.allowed) return { kind: 'page', status: 429, message: 'Too many sign-in attempts from this address: try again later.' };
      const states = url.searchParams.getAll('state');
      const state = states.length === 1 ? states[0] : undefined;
      if (!state || state.length > 512) {
        await failed(null, 'state_mismatch', client, provider.id);
        return { kind: 'page', status: 400, message: 'This sign-in link is invalid. Start again from the sign-in page.' };
      }
      const now = clock.now();
      const flow = await consumeFlow(db, digestOf(state), now);
      if (!flow || flow.provider !== provider.id) {
        await failed(null, 'state_mismatch', client, provider.id);
        return {
          kind: 'page',
          status: 400,
          message: 'This sign-in link is invalid or was already used. Start again from the sign-in page.',
        };
      }
      const refuse = async (reason: CallbackFailure | 'disabled', error: AppCode, userId: string | null = flow.user_id) => {
        await failed(userId, reason, client, provider.id);
        return back(flow.redirect_to, { error });
      };
      if (flow.expires_at.getTime() <= now.getTime()) return refuse('state_mismatch', 'OIDC_STATE_INVALID');
      const cookie = cookieValue(cookieHeader, flowCookieName(provider.id));
      // An unbound link flow (its ticket never opened) has no browser: no cookie matches it.
      if (!cookie || flow.browser_digest === '' || !timingSafeEqual(sha256(digestOf(cookie)), sha256(flow.browser_digest)))
        return refuse('state_mismatch', 'OIDC_STATE_INVALID');
      for (const name of ['code', 'iss', 'error']) {
        if (url.searchParams.getAll(name).length > 1 || (url.searchParams.get(name)?.length ?? 0) > 4096)
          return refuse('provider_error', 'OIDC_RESPONSE_INVALID');
      }
      if (url.searchParams.has('error')) return refuse('provider_error', 'OIDC_RESPONSE_INVALID');
      const secrets = openFlowSecrets(flow);
      if (!secrets || secrets.state !== state) return refuse('state_mismatch', 'OIDC_STATE_INVALID');
      const { nonce, codeVerifier } = secrets;
      // The URL the provider sent the browser to, as registered: openid-client compares it.
      const current = new URL(callbackUrl(provider.id));
      current.search = url.search;
      let profile: ExternalProfile;
      try {
        profile = await clientOf(provider).profile(current, { state, nonce, codeVerifier });
      } catch (error) {
        const reason = error instanceof ProviderError ? error.reason : 'id_token_invalid';
        return refuse(reason, reason === 'provider_unavailable' ? 'PROVIDER_UNAVAILABLE' : 'OIDC_RESPONSE_INVALID');
      }
      const { token, digest } = newOpaqueToken();
      const expiresAt = new Date(now.getTime() + CODE_TTL_SECONDS * 1000);
      if (flow.purpose === 'link') {
        // Nothing is linked yet, and no one is signed in: the identity waits for the flow's own
        // user to confirm it with their session (linkComplete). A browser that opened someone
        // else's ticket, or was sent to one, gets a code only that user can use.
        if (!flow.user_id) return refuse('state_mismatch', 'OIDC_STATE_INVALID');
        const pending = {
          provider: provider.id,
          issuer: profile.issuer,
          subject: profile.subject,
          email: profile.email,
          emailVerified: profile.emailVerified,
        };
        await insertCode(db, { id: randomUUID(), digest, userId: flow.user_id, purpose: 'link', pending, now, expiresAt });
        return back(flow.redirect_to, { linkCode: token });
      }
      const account = await resolveAccount(provider.id, profile, client);
      if ('error' in account) return back(flow.redirect_to, { error: account.error });
      if (account.user.disabled_at !== null) return refuse('disabled', 'ACCOUNT_DISABLED', account.user.id);
      await insertCode(db, {
        id: randomUUID(),
        digest,
        userId: account.user.id,
        purpose: 'sign_in',
        identityId: account.identity.id,
        now,
        expiresAt,
      });
      return back(flow.redirect_to, { code: token });
    },

    /**
     * The one-time code of a callback, for the session it stands for (single use, 60 seconds),
     * or `mfaRequired` for an account with a second factor, as a password login answers.
     */
    async exchangeCode(code: string, client: ClientInfo): Promise<Session | MfaRequired> {
      const now = clock.now();
      const key = throttleKey.linkTokenAddress(client.ip);
      const verdict = await throttle.hit(key, LIMITS.linkTokensPerAddress, now);
      if (!verdict.allowed) throw new AppError('RATE_LIMITED', { retryAfterSeconds: verdict.retryAfterSeconds });
      const row = await consumeCode(db, digestOf(code), 'sign_in', now);
      if (!row) throw new AppError('TOKEN_INVALID');
      await throttle.release(key);
      const user = await users.findById(row.user_id);
      if (!user) throw new AppError('TOKEN_INVALID');
      const identity = (await findIdentities(db, user.id)).find((entry) => entry.id === row.identity_id);
      return signIn.signInFederated(user, client, identity?.provider ?? 'unknown');
    },

    async list(userId: string): Promise<Identity[]> {
      return (await findIdentities(db, userId)).map(identityOf);
    },

    /**
     * The URL of a flow that links a provider's identity to the signed-in user (recent proof
     * needed): our start route with a ticket that works once, for 10 minutes, and only binds the
     * flow to the browser that opens it (the cookie); the provider's answer then links.
     */
    async linkStart(auth: Authenticated, input: { provider: string; redirectTo: string }, client: ClientInfo): Promise<{ url: string }> {
      await mfa.requireRecentProof(auth);
      const provider = providers.get(input.provider);
      if (!provider) throw new AppError('PROVIDER_UNAVAILABLE');
      if (!redirectAllowed(input.redirectTo, config.allowedRedirects))
        throw new AppError('VALIDATION_FAILED', { fields: { redirectTo: ['is not an allowed address'] } });
      const verdict = await throttle.hit(throttleKey.oidcFlowAddress(client.ip), LIMITS.oidcFlowsPerAddress, clock.now());
      if (!verdict.allowed) throw new AppError('RATE_LIMITED', { retryAfterSeconds: verdict.retryAfterSeconds });
      const { token: ticket, digest } = newOpaqueToken();
      try {
        await prepareFlow(provider, {
          redirectTo: input.redirectTo,
          purpose: 'link',
          userId: auth.userId,
          browserDigest: '',
          linkTicketDigest: digest,
        });
      } catch (error) {
        if (!(error instanceof ProviderError)) throw error;
        throw new AppError('PROVIDER_UNAVAILABLE');
      }
      const url = new URL(`${config.baseUrl}/auth/oidc/${provider.id}/start`);
      url.searchParams.set('link', ticket);
      return { url: url.href };
    },

    /**
     * Links the identity of a link flow's callback (`#link_code=`) to the signed-in user, who must
     * be the one who started it: IDENTITY_IN_USE when another account has it.
     */
    async linkComplete(auth: Authenticated, code: string, client: ClientInfo): Promise<Identity> {
      const now = clock.now();
      const key = throttleKey.linkTokenAddress(client.ip);
      const verdict = await throttle.hit(key, LIMITS.linkTokensPerAddress, now);
      if (!verdict.allowed) throw new AppError('RATE_LIMITED', { retryAfterSeconds: verdict.retryAfterSeconds });
      const row = await consumeCode(db, digestOf(code), 'link', now, auth.userId);
      // Another user's code is as good as none: its flow was not this user's.
      if (!row?.pending || row.user_id !== auth.userId) throw new AppError('TOKEN_INVALID');
      await throttle.release(key);
      const { pending } = row;
      const known = await findIdentity(db, pending.issuer, pending.subject);
      if (known) {
        if (known.user_id !== auth.userId) throw new AppError('IDENTITY_IN_USE');
        return identityOf(known);
      }
      const user = await users.load(auth.userId);
      const profile: ExternalProfile = { ...pending, name: null, username: null };
      const identity = await link(user, pending.provider, profile, now, client, 'linked by its owner');
      if (!identity) throw new AppError('IDENTITY_IN_USE');
      return identityOf(identity);
    },

    /** Unlinks an identity (recent proof needed); LAST_SIGN_IN_METHOD when the account would have no way in left. */
    async unlink(auth: Authenticated, identityId: string, client: ClientInfo): Promise<void> {
      await mfa.requireRecentProof(auth);
      await db.transaction().execute(async (trx) => {
        const user = await users.lock(auth.userId, trx);
        if (!user) throw new AppError('USER_NOT_FOUND');
        const identities = await findIdentities(trx, user.id);
        const identity = identities.find((entry) => entry.id === identityId);
        if (!identity) throw new AppError('IDENTITY_NOT_FOUND');
        if (user.password_hash === null && identities.length <= 1 && (await countPasskeys(trx, user.id)) === 0)
          throw new AppError('LAST_SIGN_IN_METHOD');
        await deleteIdentity(trx, user.id, identity.id);
        await audit.record(trx, {
          type: 'identity.unlinked',
          userId: user.id,
          sessionId: auth.sessionId,
          client,
          details: { identityId: identity.id, provider: identity.provider },
        });
      });
    },
  };

  return service;
}

export type IdentityService = ReturnType<typeof createIdentityService>;

/** One cookie's value from a Cookie header; undefined when absent or given twice. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header || header.length > 8192) return undefined;
  const values = header
    .split(';')
    .map((part) => part.trim())
    .filter((part) => part.startsWith(`${name}=`))
    .map((part) => part.slice(name.length + 1));
  return values.length === 1 && /^[A-Za-z0-9_-]{1,128}$/.test(values[0] ?? '') ? values[0] : undefined;
}
