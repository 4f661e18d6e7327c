/** Load through autocannon: keep-alive connections on loopback, one request in flight on each. */
import autocannon from 'autocannon';

export interface Sample {
  /** 2xx answers per second of the run. */
  rps: number;
  /** Latency of the 2xx answers, in milliseconds. */
  p50: number;
  p99: number;
  ok: number;
  /** Answers other than 2xx, connection errors, timeouts: all should be 0. */
  non2xx: number;
  errors: number;
  timeouts: number;
}

export interface Load {
  url: string;
  connections: number;
  seconds: number;
  /** Seconds to wait for an answer (logins queue behind bcrypt for several seconds). */
  timeout?: number;
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  setupClient?: (client: autocannon.Client) => void;
  requests?: autocannon.Request[];
}

export function run(load: Load): Promise<Sample> {
  return new Promise((resolve, reject) => {
    autocannon(
      {
        url: load.url,
        connections: load.connections,
        duration: load.seconds,
        timeout: load.timeout ?? 10,
        ...(load.method && { method: load.method }),
        ...(load.headers && { headers: load.headers }),
        ...(load.setupClient && { setupClient: load.setupClient }),
        ...(load.requests && { requests: load.requests }),
        // Fast refusals must not flatter the latency of the real answers.
        excludeErrorStats: true,
      },
      (error, result) => {
        if (error) return reject(error instanceof Error ? error : new Error(String(error)));
        const ok = result['2xx'];
        resolve({
          rps: ok / result.duration,
          p50: result.latency.p50,
          p99: result.latency.p99,
          ok,
          non2xx: result.non2xx,
          errors: result.errors,
          timeouts: result.timeouts,
        });
      },
    );
  });
}

/** Headers spread over the connections: each connection presents one user's credentials. */
export function headersPerConnection(headers: readonly Record<string, string>[]): (client: autocannon.Client) => void {
  let next = 0;
  return (client) => {
    const chosen = headers[next++ % headers.length];
    if (chosen) client.setHeaders(chosen);
  };
}

/** Authorization headers spread over the connections: each connection presents one user's token. */
export function bearerPerConnection(tokens: readonly string[]): (client: autocannon.Client) => void {
  return headersPerConnection(tokens.map((token) => ({ authorization: `Bearer ${token}` })));
}

/** Requests that cycle through `bodies`, one after another across all connections. */
export function rotatingBodies(path: string, bodies: readonly string[]): autocannon.Request[] {
  let next = 0;
  return [
    {
      method: 'POST',
      path,
      headers: { 'content-type': 'application/json' },
      setupRequest: (request) => {
        request.body = bodies[next++ % bodies.length];
        return request;
      },
    },
  ];
}

export interface PooledSession {
  id: string;
  token: string;
}

interface RefreshContext {
  session?: PooledSession;
}

const REFRESH_TOKEN = /"refreshToken":"([A-Za-z0-9_-]+)"/;

/**
 * Sessions and their current refresh tokens. Each refresh takes the session that waited longest,
 * so that no two requests in flight, nor two in a row, present the same session; the answer's
 * successor token replaces the one presented. A session whose answer never came (the run ended,
 * a timeout) is `unsettled` until `recover` learns its current token.
 */
export class SessionPool {
  private idle: PooledSession[];
  private readonly unsettled = new Set<PooledSession>();
  dropped = 0;

  constructor(sessions: readonly PooledSession[]) {
    this.idle = sessions.map((s) => ({ ...s }));
  }

  /** A copy with the same tokens (for a baseline holding its own copy of the sessions). */
  clone(): SessionPool {
    return new SessionPool([...this.idle, ...this.unsettled]);
  }

  requests(path: string): autocannon.Request[] {
    return [
      {
        method: 'POST',
        path,
        headers: { 'content-type': 'application/json' },
        setupRequest: (request, context) => {
          const session = this.idle.shift();
          (context as RefreshContext).session = session;
          // Cannot happen with more sessions than connections; if it does, it shows as non-2xx answers.
          if (!session) {
            request.body = '{"json":{"refreshToken":"the-session-pool-ran-dry"}}';
            return request;
          }
          this.unsettled.add(session);
          request.body = `{"json":{"refreshToken":"${session.token}"}}`;
          return request;
        },
        onResponse: (status, body, context) => {
          const session = (context as RefreshContext).session;
          if (!session) return;
          const successor = status === 200 ? REFRESH_TOKEN.exec(body)?.[1] : undefined;
          if (!successor) return;
          session.token = successor;
          this.unsettled.delete(session);
          this.idle.push(session);
        },
      },
    ];
  }

  /**
   * Presents the unsettled sessions' tokens again, right after a run: within the reuse grace
   * window a token rotated a moment ago yields the same successor, and one never processed rotates
   * now. A session the target refuses is dropped.
   */
  async recover(refreshUrl: string): Promise<void> {
    const pending = [...this.unsettled];
    await Promise.all(
      pending.map(async (session) => {
        try {
          const response = await fetch(refreshUrl, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: `{"json":{"refreshToken":"${session.token}"}}`,
            signal: AbortSignal.timeout(30_000),
          });
          const successor = response.status === 200 ? REFRESH_TOKEN.exec(await response.text())?.[1] : undefined;
          if (successor) {
            session.token = successor;
            this.idle.push(session);
          } else {
            this.dropped += 1;
          }
        } catch {
          this.dropped += 1;
        }
        this.unsettled.delete(session);
      }),
    );
  }
}
