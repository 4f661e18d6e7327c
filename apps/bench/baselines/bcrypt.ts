/**
 * The `auth.login` floor: raw @node-rs/bcrypt verifies at the server's cost and the benchmark's
 * concurrency, in a process of its own (no HTTP), on libuv's default thread pool as the server's.
 * Prints `{"ready":true}` once its hash is made, starts on a line from stdin (so that the harness
 * can start it together with another load), then prints the verifies completed within the window,
 * per second, and their latency, as one JSON line.
 *
 *   tsx baselines/bcrypt.ts <cost> <concurrency> <seconds>
 */
import { hash, verify } from '@node-rs/bcrypt';

const [cost = 12, concurrency = 50, seconds = 10] = process.argv.slice(2).map(Number);
// The server verifies a 44-character base64 pre-hash of the password (src/lib/password.ts).
const input = 'bGF0Y2hrZXkgYmVuY2ggcGFzc3dvcmQgcHJlaGFzaCE=';
const stored = await hash(input, cost);

process.stdout.write('{"ready":true}\n');
await new Promise((resolve) => process.stdin.once('data', resolve));
process.stdin.pause();

const latencies: number[] = [];
const start = performance.now();
const end = start + seconds * 1000;
await Promise.all(
  Array.from({ length: concurrency }, async () => {
    while (performance.now() < end) {
      const began = performance.now();
      const ok = await verify(input, stored);
      const finished = performance.now();
      if (!ok) throw new Error('bcrypt verify failed');
      // Only what finished inside the window counts, as with autocannon.
      if (finished <= end) latencies.push(finished - began);
    }
  }),
);

latencies.sort((a, b) => a - b);
const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0;
process.stdout.write(
  `${JSON.stringify({ ok: latencies.length, seconds, rps: latencies.length / seconds, p50: at(0.5), p99: at(0.99), threadpool: process.env.UV_THREADPOOL_SIZE ?? '4 (default)' })}\n`,
);
