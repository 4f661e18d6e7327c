/** Composition root: config -> database -> migrate -> HTTP server; workers; graceful shutdown. */
import cluster from 'node:cluster';
import { createApp } from './app.js';
import { type Config, ConfigError, loadConfig } from './config.js';
import { createHttpServer } from './http/server.js';
import { startCleanupJob } from './jobs/cleanup.job.js';
import { closeHashPool } from './lib/hash-workers.js';
import { createLogger, type Logger } from './lib/logger.js';

function describeDatabase(config: Readonly<Config>): string {
  if (config.database.kind === 'postgres') return 'postgresql';
  return config.database.kind === 'memory' ? 'pglite (in memory)' : `pglite (${config.database.dataDir})`;
}

/** One instance: the whole server in this process. */
async function serve(config: Readonly<Config>, logger: Logger): Promise<void> {
  const app = await createApp(config, { logger, deliverMail: true });
  const stopCleanup = startCleanupJob({
    db: app.database.db,
    clock: app.clock,
    logger,
    securityEventRetentionSeconds: config.securityEventRetentionSeconds,
    reseal: app.services.mfa.resealUnderCurrentSecret,
  });
  const http = createHttpServer({ runtime: app, database: app.database, logger });
  const { port } = await http.listen(config.port, config.host);
  const host = config.host === '0.0.0.0' ? 'localhost' : config.host;
  logger.info(
    { port, host: config.host, database: describeDatabase(config), pid: process.pid },
    `Latchkey listening on http://${host}:${port}`,
  );

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    try {
      stopCleanup();
      await http.close();
      await app.close();
      await closeHashPool();
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

/**
 * WEB_CONCURRENCY > 1: this process only forks workers sharing the port (node's cluster) and
 * replaces any that die; each worker is a full instance on the shared PostgreSQL database.
 */
function supervise(config: Readonly<Config>, logger: Logger): void {
  let stopping = false;
  const fork = () => cluster.fork();
  for (let i = 0; i < config.webConcurrency; i += 1) fork();
  cluster.on('exit', (worker, code, signal) => {
    if (stopping) {
      if (Object.keys(cluster.workers ?? {}).length === 0) {
        logger.info('stopped');
        process.exit(0);
      }
      return;
    }
    logger.warn({ pid: worker.process.pid, code, signal }, 'worker died; starting another');
    setTimeout(fork, 1_000);
  });
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal, workers: config.webConcurrency }, 'shutting down workers');
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGTERM');
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

async function main(): Promise<void> {
  let config: Readonly<Config>;
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
  if (cluster.isPrimary && config.jwtSecretGenerated) {
    logger.warn({ dataDir: config.dataDir }, 'JWT_SECRET is not set: using a secret generated in DATA_DIR (development only)');
  }
  if (cluster.isPrimary && config.rateLimitScale !== 1) {
    logger.warn(
      { rateLimitScale: config.rateLimitScale },
      'RATE_LIMIT_SCALE is not 1: per-address throttles are scaled (tests and benchmarks only)',
    );
  }
  if (cluster.isPrimary && config.webConcurrency > 1) supervise(config, logger);
  else await serve(config, logger);
}

main().catch((error: unknown) => {
  process.stderr.write(`Latchkey failed to start: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
