/**
 * The real Latchkey server with its tRPC requests through tRPC's own `nodeHTTPRequestHandler`
 * only (`trpcAdapter: 'standard'`), for the row that measures what the lean handler buys. A
 * bench-only switch: no setting of the server's turns it on. It shares the server's PostgreSQL
 * schema (an embedded PGlite belongs to one process: PostgreSQL only).
 */
import type { Server } from 'node:http';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { listen } from './listen.js';

// Imported by path, as `pnpm start` runs them: the server's sources are not part of this package.
const source = (file: string) => import(pathToFileURL(join(import.meta.dirname, '../../server/src', file)).href);
const { loadConfig } = (await source('config.ts')) as { loadConfig(): unknown };
const { createApp } = (await source('app.ts')) as { createApp(config: unknown): Promise<Record<string, unknown>> };
const { createHttpServer } = (await source('http/server.ts')) as {
  createHttpServer(options: Record<string, unknown>): { server: Server };
};

const app = await createApp(loadConfig());
const http = createHttpServer({ runtime: app, database: app.database, logger: app.logger, trpcAdapter: 'standard' });
listen(http.server, 'latchkey-standard');
