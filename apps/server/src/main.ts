/** Composition root: config -> database -> migrate -> HTTP server; graceful shutdown. */
import { createApp } from './app.js';
import { ConfigError, loadConfig } from './config.js';
import { createHttpServer } from './http/server.js';
import { createLogger } from './lib/logger.js';

async function main(): Promise<void> {
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
  const logger = createLogger(config.logLevel);
  if (config.jwtSecretGenerated) {
    logger.warn({ dataDir: config.dataDir }, 'JWT_SECRET is not set: using a secret generated in DATA_DIR (development only)');
  }

  const app = await createApp(config, { logger });
  const http = createHttpServer({ inner: app.inner, database: app.database, logger });
  const { port } = await http.listen(config.port, config.host);
  const database =
    config.database.kind === 'postgres'
      ? 'postgresql'
      : config.database.kind === 'memory'
        ? 'pglite (in memory)'
        : `pglite (${config.database.dataDir})`;
  logger.info(
    { port, host: config.host, database },
    `Latchkey listening on http://${config.host === '0.0.0.0' ? 'localhost' : config.host}:${port}`,
  );

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    try {
      await http.close();
      await app.close();
      logger.info('stopped');
      process.exit(0);
    } catch (error) {
      logger.error({ err: error }, 'shutdown failed');
      process.exit(1);
    }
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

main().catch((error: unknown) => {
  process.stderr.write(`Latchkey failed to start: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
