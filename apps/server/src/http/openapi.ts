/**
 * The OpenAPI 3.1 document of the REST routes, made by zod-openapi's `createDocument` from the
 * route table and its zod schemas (zod's own JSON Schema output, draft 2020-12, which is OpenAPI
 * 3.1's dialect): what is served and what is documented cannot drift apart.
 */
import { JWKS_MAX_AGE_SECONDS, JWKS_PATH } from '@latchkey/protocol';
import { z } from 'zod';
import {
  createDocument,
  type ZodObjectInput,
  type ZodOpenApiOperationObject,
  type ZodOpenApiPathItemObject,
  type ZodOpenApiPathsObject,
  type ZodOpenApiResponseObject,
  type ZodOpenApiResponsesObject,
} from 'zod-openapi';
import { newPasswordSchema, PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH } from '../modules/account/account.schemas.js';
import { emailSchema } from '../modules/user/user.schemas.js';
import type { HttpMethod, RestRoute } from './rest/route.js';
import { errorResponse, SHARED_SCHEMAS } from './rest/schemas.js';

type JsonSchema = z.core.JSONSchema.BaseSchema;

interface Reference {
  $ref: string;
}

interface Parameter {
  name: string;
  in: 'query' | 'path';
  required: boolean;
  schema: JsonSchema;
  description?: string;
}

interface Response {
  description: string;
  headers?: Record<string, { description: string; schema: JsonSchema }>;
  content?: Record<string, { schema: JsonSchema | Reference }>;
}

export interface Operation {
  operationId: string;
  summary: string;
  description?: string;
  tags: string[];
  security?: Record<string, string[]>[];
  parameters?: Parameter[];
  requestBody?: { required: boolean; content: Record<string, { schema: Reference }> };
  responses: Record<string, Response | Reference>;
}

export interface OpenApiDocument {
  openapi: '3.1.0';
  info: { title: string; version: string; description: string };
  servers: { url: string }[];
  tags: { name: string; description: string }[];
  paths: Record<string, Record<string, Operation>>;
  components: {
    schemas: Record<string, JsonSchema>;
    responses: Record<string, Response>;
    securitySchemes: Record<string, { type: 'http'; scheme: string; bearerFormat: string; description: string }>;
  };
}

export const SECURITY_SCHEME = 'accessToken';

/** The error answers every route may give, named once and referred to by status. */
const ERROR_RESPONSES: Record<number, { name: string; description: string }> = {
  400: { name: 'MalformedJson', description: 'The body is not valid JSON.' },
  401: {
    name: 'Unauthorized',
    description:
      'Authentication failed; `code` says how (ACCESS_TOKEN_MISSING, ACCESS_TOKEN_EXPIRED, ACCESS_TOKEN_INVALID, SESSION_REVOKED, ' +
      'INVALID_CREDENTIALS, REFRESH_TOKEN_INVALID, REFRESH_TOKEN_EXPIRED, REFRESH_TOKEN_REUSED, at the second step of a login ' +
      'MFA_CODE_INVALID, MFA_TOKEN_INVALID, MFA_TOKEN_EXPIRED, PASSKEY_INVALID for a passkey that does not verify when signing in, and ' +
      'TOKEN_INVALID for an unknown, used or expired one-time code of an external sign-in). After ACCESS_TOKEN_EXPIRED, refresh; after ' +
      'MFA_TOKEN_* or an external sign-in code refused, sign in again.',
  },
  403: {
    name: 'Forbidden',
    description:
      'Signed in, but not allowed as things stand: REAUTHENTICATION_REQUIRED asks for `current_password` in the request, or a ' +
      're-authentication (`POST /api/auth/reauthenticate`) within REAUTH_MAX_AGE first; for an account with a second factor, ' +
      'a re-authentication with a code (`code` or `recovery_code`) or a passkey (`passkey`), the password alone being no longer enough. ' +
      'ACCOUNT_DISABLED (when signing in): the account is disabled, which is said only to whoever proved to be its owner.',
  },
  404: {
    name: 'NotFound',
    description:
      'Not found: an unknown token (TOKEN_INVALID), user (USER_NOT_FOUND), second factor (FACTOR_NOT_FOUND), passkey ' +
      '(PASSKEY_NOT_FOUND) or linked identity (IDENTITY_NOT_FOUND) of this user.',
  },
  409: {
    name: 'Conflict',
    description:
      'Already taken: `{ "errors": { "email": ["has already been taken"] } }` (or `username`); FACTOR_EXISTS when an authenticator ' +
      'app is already set up or being set up; LAST_SIGN_IN_METHOD when removing a passkey or unlinking an identity would leave the ' +
      'account with no way in.',
  },
  410: { name: 'Gone', description: 'The token has expired (TOKEN_EXPIRED).' },
  413: { name: 'PayloadTooLarge', description: 'The body is larger than 1 MB.' },
  415: {
    name: 'UnsupportedMediaType',
    description: 'The request is not sent as `Content-Type: application/json` (a POST without a body included).',
  },
  422: {
    name: 'ValidationFailed',
    description:
      'Invalid input, with messages per field as RealWorld gives them: `{ "errors": { "email": ["can\'t be blank"] } }`. On a ' +
      'signed-in route, also a wrong password or code, or a passkey that does not verify (INVALID_CREDENTIALS, MFA_CODE_INVALID, ' +
      'PASSKEY_INVALID): the session itself is fine. CHALLENGE_EXPIRED: the challenge a passkey answered is unknown, used or ' +
      'expired (ask for new options). PROVIDER_UNAVAILABLE: no such external sign-in provider is configured.',
  },
  429: { name: 'TooManyRequests', description: 'Too many attempts (RATE_LIMITED); try again after `Retry-After` seconds.' },
  500: { name: 'InternalError', description: 'Something failed on the server; the answer carries no detail.' },
};

/** The statuses a route can answer besides success: its own, plus those of the transport. */
function statusesOf(route: RestRoute): number[] {
  const statuses = new Set<number>(route.errors);
  if (route.input?.from === 'body') for (const status of [400, 413, 415, 422]) statuses.add(status);
  else if (route.method === 'POST' || route.method === 'PUT' || route.method === 'PATCH') statuses.add(415);
  if (route.input?.from === 'query' || route.input?.from === 'path' || route.params) statuses.add(422);
  if (route.auth) statuses.add(401);
  statuses.add(500);
  return [...statuses].sort((a, b) => a - b);
}

/**
 * Every named schema, given to the generator as a component so that it writes each use as a
 * `$ref`. A name means one schema and a schema has one name, or the document would lie.
 */
function componentSchemas(routes: readonly RestRoute[]): { responses: Record<string, z.ZodType>; requests: Map<z.ZodType, z.ZodType> } {
  const byName = new Map<string, z.ZodType>();
  const nameOf = new Map<z.ZodType, string>();
  const register = (name: string, schema: z.ZodType) => {
    const known = byName.get(name);
    if (known === schema) return;
    if (known) throw new Error(`two different schemas are named ${name} in the OpenAPI document`);
    const other = nameOf.get(schema);
    if (other !== undefined) throw new Error(`one schema is named both ${other} and ${name} in the OpenAPI document`);
    byName.set(name, schema);
    nameOf.set(schema, name);
  };
  for (const [name, schema] of SHARED_SCHEMAS) register(name, schema);
  const requests = new Map<z.ZodType, z.ZodType>();
  for (const route of routes) {
    if (route.input?.from === 'body') {
      register(route.input.name, route.input.schema);
      requests.set(route.input.schema, named(route.input.schema, route.input.name));
    }
    register(route.success.name, route.success.schema);
  }
  const responses = Object.fromEntries([...byName].filter(([, schema]) => !requests.has(schema)));
  return { responses, requests };
}

const namedCopies = new WeakMap<z.ZodType, Map<string, z.ZodType>>();

/**
 * A request body as a component named by its `id`. zod-openapi renders the components given to
 * it by hand both as read and as written, and a body's trims and normalisations have no written
 * form; a schema named by `id` is rendered only as it is used, here as read. The copy is made
 * once per schema (zod's global registry keeps it), not once per document.
 */
function named(schema: z.ZodType, id: string): z.ZodType {
  const copies = namedCopies.get(schema) ?? new Map<string, z.ZodType>();
  namedCopies.set(schema, copies);
  const copy = copies.get(id) ?? schema.meta({ id });
  copies.set(id, copy);
  return copy;
}

/**
 * What JSON Schema cannot read from a refinement or from a pipe's far side: the email format and
 * the password's length rule (checked in a superRefine, so zod sees only "not blank").
 *
 * And responses are documented as open objects, as requests are: the server drops unknown keys
 * before answering, but promising `additionalProperties: false` would make every field added
 * later a breaking change for clients that validate strictly.
 */
function ruleHints({ zodSchema, jsonSchema, io }: { zodSchema: unknown; jsonSchema: JsonSchema; io: 'input' | 'output' }): void {
  if (zodSchema === emailSchema) jsonSchema.format = 'email';
  if (zodSchema === newPasswordSchema) {
    jsonSchema.minLength = PASSWORD_MIN_LENGTH;
    jsonSchema.maxLength = PASSWORD_MAX_LENGTH;
  }
  if (io === 'output' && zodSchema instanceof z.ZodObject && zodSchema.def.catchall === undefined) delete jsonSchema.additionalProperties;
}

/** A status as a key of the responses object (every status here is 2xx to 5xx). */
const statusKey = (status: number) => String(status) as `${1 | 2 | 3 | 4 | 5}${string}`;

function operationOf(route: RestRoute, requests: ReadonlyMap<z.ZodType, z.ZodType>): ZodOpenApiOperationObject {
  const responses: ZodOpenApiResponsesObject = {
    [statusKey(route.success.status)]: {
      description: route.success.description,
      content: { 'application/json': { schema: route.success.schema } },
    },
  };
  for (const status of statusesOf(route)) {
    const error = ERROR_RESPONSES[status];
    if (!error) throw new Error(`no documented error response for status ${status}`);
    responses[statusKey(status)] = { $ref: `#/components/responses/${error.name}` };
  }
  return {
    operationId: route.operationId,
    summary: route.summary,
    ...(route.description !== undefined && { description: route.description }),
    tags: [route.tag],
    ...(route.auth && { security: [{ [SECURITY_SCHEME]: [] }] }),
    // Each query or path parameter is a string: the object's shape is the parameter list.
    ...(route.input?.from === 'query' && { requestParams: { query: route.input.schema as ZodObjectInput } }),
    ...(route.input?.from === 'path' && { requestParams: { path: route.input.schema as ZodObjectInput } }),
    ...(route.params && { requestParams: { path: route.params.schema as ZodObjectInput } }),
    ...(route.input?.from === 'body' && {
      requestBody: { required: true, content: { 'application/json': { schema: requests.get(route.input.schema) ?? route.input.schema } } },
    }),
    responses,
  };
}

function errorResponses(): Record<string, ZodOpenApiResponseObject> {
  const responses: Record<string, ZodOpenApiResponseObject> = {};
  for (const [status, { name, description }] of Object.entries(ERROR_RESPONSES)) {
    responses[name] = {
      description,
      content: { 'application/json': { schema: errorResponse } },
      ...(status === '429' && {
        headers: { 'Retry-After': { description: 'Seconds to wait before trying again', schema: { type: 'integer', minimum: 1 } } },
      }),
    };
  }
  return responses;
}

/** The public keys (RFC 7517, RFC 8037): served by the HTTP server itself, not a REST route, and documented here. */
const jwksSchema = z
  .object({
    keys: z.array(
      z
        .object({
          kty: z.literal('OKP'),
          crv: z.literal('Ed25519'),
          x: z.string().meta({ description: 'The public key, base64url' }),
          kid: z.string().meta({ description: 'RFC 7638 thumbprint of the key; access tokens name it in their header' }),
          alg: z.literal('EdDSA'),
          use: z.literal('sig'),
        })
        .meta({ id: 'PublicJwk' }),
    ),
  })
  .meta({ id: 'JsonWebKeySet' });

const jwksOperation: ZodOpenApiOperationObject = {
  operationId: 'getJwks',
  summary: 'The public keys access tokens are signed with',
  description: [
    'Every key the server currently accepts (the signing key first; during a rotation of JWT_SECRET, the previous one too).',
    'Verify access tokens with these and `alg: EdDSA`, choosing the key by the token header’s `kid`.',
    'With `ACCESS_TOKEN_ALG=HS256` the set is empty: tokens are then verified with the shared secret.',
  ].join(' '),
  tags: ['keys'],
  responses: {
    '200': {
      description: 'The JSON Web Key Set',
      headers: {
        'Cache-Control': {
          description: 'How long the set may be cached',
          schema: { type: 'string', const: `public, max-age=${JWKS_MAX_AGE_SECONDS}` },
        },
      },
      content: { 'application/json': { schema: jwksSchema } },
    },
  },
};

/** An HTML page of the browser routes, for a request that names no allowed place to send the browser back to. */
const htmlPage = (description: string): ZodOpenApiResponseObject => ({
  description,
  content: { 'text/html': { schema: z.string().meta({ description: 'A short HTML page saying what went wrong' }) } },
});

const providerPath = z.object({
  provider: z
    .string()
    .regex(/^[a-z0-9]{1,64}$/)
    .meta({ description: 'The provider id: `<ID>` of OIDC_<ID>_ISSUER in lower case (`google`), or `github`' }),
});

const noStore = { description: 'Always `no-store`', schema: { type: 'string', const: 'no-store' } } as const;

/**
 * External sign-in's browser steps: served by the HTTP server as redirects and pages (not JSON,
 * so not REST routes), and documented here. The browser, not a script, follows them.
 */
const oidcStartOperation: ZodOpenApiOperationObject = {
  operationId: 'oidcStart',
  summary: 'Sign in with a provider: start (browser)',
  description: [
    'Open this in the browser (a link or `location.assign`, not fetch): it redirects to the provider with an authorization',
    'code request (PKCE S256, `state`, `nonce`), the flow kept server-side (its state as a digest, single use, 10 minutes) and',
    'bound to this browser by a cookie. `redirect_to` must be allowed by ALLOWED_REDIRECTS (exact origins or URL prefixes;',
    "default BASE_URL's origin and CORS_ORIGINS), else this is a 400 page. `link` is the ticket of",
    '`auth.identities.linkStart` / `POST /api/user/identities/link` (it comes in the URL they answer): it opens once, within',
    '10 minutes, and its flow links the identity to the user who asked instead of signing in; `redirect_to` is then the one',
    'given there. When the provider cannot be reached, the redirect goes back to `redirect_to#error=PROVIDER_UNAVAILABLE`.',
  ].join(' '),
  tags: ['identities'],
  requestParams: {
    path: providerPath,
    query: z.object({
      redirect_to: z.string().max(2048).optional().meta({
        description:
          'Where the browser comes back to after the provider, with `#code=<one-time code>` or `#error=<appCode>` (required without `link`)',
      }),
      link: z.string().max(128).optional().meta({ description: 'The single-use ticket of a link flow (in the URL linkStart answers)' }),
    }),
  },
  responses: {
    '302': {
      description: "To the provider's authorization endpoint; or back to `redirect_to#error=PROVIDER_UNAVAILABLE`",
      headers: {
        Location: { description: "The provider's authorization URL (or `redirect_to` with the error)", schema: { type: 'string' } },
        'Set-Cookie': {
          description:
            'When redirecting to the provider, `latchkey_oidc_<provider>`: binds the flow to this browser (HttpOnly, SameSite=Lax, Secure when BASE_URL is https; path of the callback; 10 minutes)',
          schema: { type: 'string' },
        },
        'Cache-Control': noStore,
      },
    },
    '400': htmlPage(
      '`redirect_to` missing, given twice or not allowed; a `link` ticket unknown, used or expired; too many sign-ins started from this address',
    ),
    '404': htmlPage('No provider of this id is configured'),
  },
};

const oidcCallbackOperation: ZodOpenApiOperationObject = {
  operationId: 'oidcCallback',
  summary: 'Sign in with a provider: the callback (browser)',
  description: [
    'Where the provider sends the browser back: register `<BASE_URL>/auth/oidc/{provider}/callback` as the redirect URI of the',
    'client at the provider. The state names the flow (used up, pass or fail) and must come with the cookie of the browser that',
    "started it; the code is exchanged, the ID token verified (signature from the provider's JWKS, `iss`, `aud`/`azp`, `exp`,",
    '`nonce`) as well as RFC 9207 `iss` when present, and userinfo fetched for its subject. The account is found by (issuer,',
    'subject), never by email; a new identity whose email a local account has is linked only when both the provider and the',
    'account have it verified. Answers a redirect to `redirect_to` with `#code=<one-time code>` (single use, 60 seconds: the',
    'page exchanges it with `auth.exchangeCode` / `POST /api/users/login/exchange`) or `#error=<appCode>`:',
    'OIDC_STATE_INVALID (expired, or no matching cookie: started in another browser), OIDC_RESPONSE_INVALID (the provider',
    'answered an error, or its answer did not verify), PROVIDER_UNAVAILABLE, IDENTITY_LINK_REQUIRED (an account has this',
    'email but it could not be linked automatically: sign in to it and link the provider there), IDENTITY_IN_USE (linking an',
    'identity another account has), ACCOUNT_DISABLED. No token is ever in a URL: the code travels in the fragment, which is',
    'sent to no server.',
  ].join(' '),
  tags: ['identities'],
  requestParams: {
    path: providerPath,
    query: z.object({
      state: z.string().max(512).meta({ description: 'The state of the flow, as the provider returns it' }),
      code: z.string().max(4096).optional().meta({ description: "The provider's authorization code" }),
      iss: z.string().max(4096).optional().meta({ description: "RFC 9207: the provider's issuer, checked when present" }),
      error: z.string().max(4096).optional().meta({ description: "The provider's error (`access_denied`, ...), instead of `code`" }),
    }),
  },
  responses: {
    '302': {
      description: 'Back to `redirect_to`, with `#code=<one-time code>` or `#error=<appCode>` in the fragment',
      headers: {
        Location: { description: '`redirect_to` with its fragment', schema: { type: 'string' } },
        'Cache-Control': noStore,
      },
    },
    '400': htmlPage('`state` missing, repeated, unknown or already used: there is no flow, so no `redirect_to` to go back to'),
    '404': htmlPage('No provider of this id is configured'),
  },
};

export function buildOpenApiDocument(routes: readonly RestRoute[], options: { serverUrl: string }): OpenApiDocument {
  const { responses, requests } = componentSchemas(routes);
  const paths: ZodOpenApiPathsObject = {};
  for (const route of routes) {
    const item: ZodOpenApiPathItemObject = paths[route.path] ?? {};
    item[route.method.toLowerCase() as Lowercase<HttpMethod>] = operationOf(route, requests);
    paths[route.path] = item;
  }
  paths[JWKS_PATH] = { get: jwksOperation };
  paths['/auth/oidc/{provider}/start'] = { get: oidcStartOperation };
  paths['/auth/oidc/{provider}/callback'] = { get: oidcCallbackOperation };
  const tags = [...new Set([...routes.map((route) => route.tag), 'identities', 'keys'])];
  const document = createDocument(
    {
      openapi: '3.1.0',
      info: {
        title: 'Latchkey REST API',
        version: '1.0.0',
        description: [
          'The REST face of the Latchkey auth server: the users/auth part of the RealWorld (Conduit) API and the tokens of the',
          'Axum tutorial, served by the same services as the tRPC procedures. Bodies are JSON in snake_case. Protected routes take',
          'the access token as `Authorization: Token <jwt>` (RealWorld) or `Authorization: Bearer <jwt>`. Errors are',
          '`{ "errors": { "<field>": ["<message>"] }, "code": "<appCode>" }`.',
        ].join(' '),
      },
      servers: [{ url: options.serverUrl }],
      tags: tags.map((name) => ({ name, description: TAG_DESCRIPTIONS[name] ?? name })),
      paths,
      components: {
        schemas: responses,
        responses: errorResponses(),
        securitySchemes: {
          [SECURITY_SCHEME]: {
            type: 'http',
            scheme: 'bearer',
            bearerFormat: 'JWT',
            description: 'The access token. `Authorization: Token <jwt>`, as RealWorld clients and the tutorial send it, works as well.',
          },
        },
      },
    },
    { override: ruleHints },
  );
  // zod-openapi types every OpenAPI version's possibilities; what it made from the input above is
  // this narrower shape, which test/openapi.test.ts pins against a checked-in document.
  return document as unknown as OpenApiDocument;
}

const TAG_DESCRIPTIONS: Record<string, string> = {
  users: 'Registration and login (RealWorld)',
  user: 'The signed-in user (RealWorld)',
  auth: 'Tokens and sessions (the tutorial)',
  keys: 'The public keys that verify access tokens',
  mfa: 'Second factors of the signed-in user: an authenticator app (TOTP) and recovery codes',
  passkeys: 'Passkeys (WebAuthn) of the signed-in user: registering, listing, renaming, removing, re-authenticating with one',
  admin: 'Administration: users, disabling, roles and the security event log (role admin)',
  identities:
    'External sign-in (OpenID Connect providers, GitHub): the browser steps under /auth/oidc, the exchange of their one-time code, and the identities linked to the signed-in user',
};
