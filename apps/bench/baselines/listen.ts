import type { Server } from 'node:http';

/** Listens on 127.0.0.1:PORT (0: any free port) and tells the harness where, as one JSON line. */
export function listen(server: Server, name: string): void {
  // As the server does: keep-alive connections of the load generator stay open between requests.
  server.keepAliveTimeout = 5_000;
  server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    process.stdout.write(`${JSON.stringify({ baseline: name, port })}\n`);
  });
  process.on('SIGTERM', () => process.exit(0));
}
