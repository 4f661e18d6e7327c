/**
 * The OpenAPI 3.1 document of the REST routes, generated from the route table and its zod schemas
 * (zod's own JSON Schema output, draft 2020-12, which is OpenAPI 3.1's dialect): what is served
 * and what is documented cannot drift apart.
 */
import { z } from 'zod';
import { newPasswordSchema, PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH } from '../modules/account/account.schemas.js';
import { emailSchema } from '../modules/user/user.schemas.js';
import type { RestRoute } from './rest/route.js';
import { SHARED_SCHEMAS } from './rest/schemas.js';

type JsonSchema = z.core.JSONSchema.BaseSchema;

interface Reference {
  $ref: string;
}

interface Parameter {
  name: string;
  in: 'query';
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

const schemaRef = (name: string): Reference => ({ $ref: `#/components/schemas/${name}` });

/** The error answers every route may give, named once and referred to by status. */
const ERROR_RESPONSES: Record<number, { name: string; description: string }> = {
  400: { name: 'MalformedJson', description: 'The body is not valid JSON.' },
  401: {
    name: 'Unauthorized',
    description:
      'Authentication failed; `code` says how (ACCESS_TOKEN_MISSING, ACCESS_TOKEN_EXPIRED, ACCESS_TOKEN_INVALID, SESSION_REVOKED, ' +
      'INVALID_CREDENTIALS, REFRESH_TOKEN_INVALID, REFRESH_TOKEN_EXPIRED, REFRESH_TOKEN_REUSED). After ACCESS_TOKEN_EXPIRED, refresh.',
  },
  404: { name: 'NotFound', description: 'The token is unknown (TOKEN_INVALID).' },
  409: { name: 'Conflict', description: 'Already taken: `{ "errors": { "email": ["has already been taken"] } }` (or `username`).' },
  410: { name: 'Gone', description: 'The token has expired (TOKEN_EXPIRED).' },
  413: { name: 'PayloadTooLarge', description: 'The body is larger than 1 MB.' },
  415: { name: 'UnsupportedMediaType', description: 'The body is not sent as `Content-Type: application/json`.' },
  422: {
    name: 'ValidationFailed',
    description: 'Invalid input, with messages per field as RealWorld gives them: `{ "errors": { "email": ["can\'t be blank"] } }`.',
  },
  429: { name: 'TooManyRequests', description: 'Too many attempts (RATE_LIMITED); try again after `Retry-After` seconds.' },
  500: { name: 'InternalError', description: 'Something failed on the server; the answer carries no detail.' },
};

function errorResponses(): Record<string, Response> {
  const responses: Record<string, Response> = {};
  for (const [status, { name, description }] of Object.entries(ERROR_RESPONSES)) {
    responses[name] = {
      description,
      content: { 'application/json': { schema: schemaRef('ErrorResponse') } },
      ...(status === '429' && {
        headers: { 'Retry-After': { description: 'Seconds to wait before trying again', schema: { type: 'integer', minimum: 1 } } },
      }),
    };
  }
  return responses;
}

/** The statuses a route can answer besides success: its own, plus those of the transport. */
function statusesOf(route: RestRoute): number[] {
  const statuses = new Set<number>(route.errors);
  if (route.input?.from === 'body') for (const status of [400, 413, 415, 422]) statuses.add(status);
  if (route.input?.from === 'query') statuses.add(422);
  if (route.auth) statuses.add(401);
  statuses.add(500);
  return [...statuses].sort((a, b) => a - b);
}

/** Every named schema in one registry, so that zod writes cross-references as `$ref`s to components. */
function componentSchemas(routes: readonly RestRoute[]): Record<string, JsonSchema> {
  const registry = z.registry<{ id: string }>();
  const byName = new Map<string, z.ZodType>();
  const register = (name: string, schema: z.ZodType) => {
    const known = byName.get(name);
    if (known === schema) return;
    if (known) throw new Error(`two different schemas are named ${name} in the OpenAPI document`);
    const other = registry.get(schema)?.id;
    if (other !== undefined) throw new Error(`one schema is named both ${other} and ${name} in the OpenAPI document`);
    byName.set(name, schema);
    registry.add(schema, { id: name });
  };
  for (const [name, schema] of SHARED_SCHEMAS) register(name, schema);
  for (const route of routes) {
    if (route.input?.from === 'body') register(route.input.name, route.input.schema);
    register(route.success.name, route.success.schema);
  }
  // Requests are documented as clients send them (before trims and normalisation); responses have
  // no transforms, so their input and output shapes are the same.
  const { schemas } = z.toJSONSchema(registry, { io: 'input', uri: (id) => `#/components/schemas/${id}`, override: ruleHints });
  // Each would carry its own `$schema` and a fragment-only `$id`, neither of which belongs in a component.
  return Object.fromEntries(Object.entries(schemas).map(([name, { $schema: _dialect, $id: _id, ...schema }]) => [name, schema]));
}

/**
 * What JSON Schema cannot read from a refinement or from a pipe's far side: the email format and
 * the password's length rule (checked in a superRefine, so zod sees only "not blank").
 */
function ruleHints({ zodSchema, jsonSchema }: { zodSchema: unknown; jsonSchema: JsonSchema }): void {
  if (zodSchema === emailSchema) jsonSchema.format = 'email';
  if (zodSchema === newPasswordSchema) {
    jsonSchema.minLength = PASSWORD_MIN_LENGTH;
    jsonSchema.maxLength = PASSWORD_MAX_LENGTH;
  }
}

function queryParameters(schema: z.ZodType): Parameter[] {
  const json = z.toJSONSchema(schema, { io: 'input', override: ruleHints });
  const required = new Set(json.required ?? []);
  return Object.entries(json.properties ?? {}).map(([name, property]) => ({
    name,
    in: 'query' as const,
    required: required.has(name),
    // Boolean schemas (`true`/`false`) cannot come out of a zod object's properties; keep the type honest anyway.
    schema: typeof property === 'boolean' ? {} : property,
  }));
}

function operationOf(route: RestRoute): Operation {
  const responses: Record<string, Response | Reference> = {
    [String(route.success.status)]: {
      description: route.success.description,
      content: { 'application/json': { schema: schemaRef(route.success.name) } },
    },
  };
  for (const status of statusesOf(route)) {
    const error = ERROR_RESPONSES[status];
    if (!error) throw new Error(`no documented error response for status ${status}`);
    responses[String(status)] = { $ref: `#/components/responses/${error.name}` };
  }
  return {
    operationId: route.operationId,
    summary: route.summary,
    ...(route.description !== undefined && { description: route.description }),
    tags: [route.tag],
    ...(route.auth && { security: [{ [SECURITY_SCHEME]: [] }] }),
    ...(route.input?.from === 'query' && { parameters: queryParameters(route.input.schema) }),
    ...(route.input?.from === 'body' && {
      requestBody: { required: true, content: { 'application/json': { schema: schemaRef(route.input.name) } } },
    }),
    responses,
  };
}

export function buildOpenApiDocument(routes: readonly RestRoute[], options: { serverUrl: string }): OpenApiDocument {
  const paths: Record<string, Record<string, Operation>> = {};
  for (const route of routes) {
    const item = paths[route.path] ?? {};
    item[route.method.toLowerCase()] = operationOf(route);
    paths[route.path] = item;
  }
  const tags = [...new Set(routes.map((route) => route.tag))];
  return {
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
      schemas: componentSchemas(routes),
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
  };
}

const TAG_DESCRIPTIONS: Record<string, string> = {
  users: 'Registration and login (RealWorld)',
  user: 'The signed-in user (RealWorld)',
  auth: 'Tokens and sessions (the tutorial)',
};
