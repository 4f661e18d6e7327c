/**
 * Following the sessions the server revokes, so that access tokens of an ended session are refused
 * within a second instead of until they expire: one follower, used by every server instance and by
 * `@latchkey/verify` in other services.
 *
 * The revoking transaction sends `NOTIFY latchkey_revocations` with the session ids, comma-separated;
 * it is delivered exactly when the revocation commits. On every (re)connection the follower LISTENs
 * first and then reloads the sessions revoked within `retainSeconds`, so a revocation committed in
 * between is caught by one or the other. Until that is done, and whenever the connection is lost,
 * the list is not trusted and callers must ask the database instead. Entries are kept only as long
 * as an access token can outlive its session's revocation.
 *
 * A connection can also go deaf without an error (a NAT that forgets it, a failover, a transaction
 * pooler): every `heartbeatMs` the follower NOTIFYs `hb:<its id>:<n>` on the same channel through
 * its own connection, and when none of its heartbeats has come back within twice that, the list is
 * no longer trusted. It is trusted again once a heartbeat arrives and what was revoked meanwhile has
 * been reloaded; still deaf after twice that again, the connection is replaced.
 *
 * The PostgreSQL connection is passed in (a `pg.Client` fits `ListenerConnection`): this package
 * has no runtime dependencies, and which driver and which query reload the list is the caller's.
 */

/** The channel and the payload format: part of the contract between the server and its followers. */
export const REVOCATION_CHANNEL = 'latchkey_revocations';
/** NOTIFY payloads must stay under 8000 bytes: 36-character ids, comma-separated. */
export const SESSION_IDS_PER_NOTIFICATION = 200;

/** Heartbeat payloads start with this; they are never session ids. */
export const HEARTBEAT_PREFIX = 'hb:';
export const DEFAULT_HEARTBEAT_MS = 5_000;

/** The payloads of the NOTIFYs that announce these sessions' revocation, at most 200 ids each. */
export function revocationPayloads(sessionIds: readonly string[]): string[] {
  const payloads: string[] = [];
  for (let i = 0; i < sessionIds.length; i += SESSION_IDS_PER_NOTIFICATION) {
    payloads.push(sessionIds.slice(i, i + SESSION_IDS_PER_NOTIFICATION).join(','));
  }
  return payloads;
}

/** What the follower needs of a PostgreSQL connection; `pg.Client` has it. */
export interface ListenerConnection {
  connect(): Promise<unknown>;
  query(text: string, values?: unknown[]): Promise<unknown>;
  on(event: 'notification', listener: (message: { channel: string; payload?: string | undefined }) => void): unknown;
  on(event: 'error', listener: (error: Error) => void): unknown;
  on(event: 'end', listener: () => void): unknown;
  end(): Promise<unknown>;
}

export interface RevokedSession {
  id: string;
  revokedAt: Date;
}

export interface RevocationFollowerOptions {
  /**
   * A new, unconnected connection for each attempt. Without one, this process is the only one
   * that revokes (an embedded database): the list is trusted from the start.
   */
  connection?: (() => ListenerConnection | Promise<ListenerConnection>) | undefined;
  /** The sessions revoked after `since`; runs after LISTEN, on every (re)connection. */
  reload: (since: Date, connection: ListenerConnection) => Promise<Iterable<RevokedSession>>;
  /** How long after its revocation an access token of the session could still be presented. */
  retainSeconds: number;
  now: () => Date;
  /** Told when the connection is lost (not when closed); the follower retries on its own. */
  onLost?: (reason: unknown) => void;
  /**
   * How often the follower NOTIFYs itself a heartbeat (default 5 s; 0 turns heartbeats off). When
   * its own heartbeat has not come back within twice that, the list is not trusted.
   */
  heartbeatMs?: number | undefined;
  /** Told when the connection stops hearing its own heartbeats (the list is then not trusted). */
  onDeaf?: () => void;
}

export interface RevocationFollower {
  /** Whether the list says the session has ended; only conclusive for `false` while `trusted`. */
  isRevoked(sessionId: string): boolean;
  /** False while the list may be missing revocations (listener down or not yet synchronised). */
  readonly trusted: boolean;
  /** Records sessions revoked at `at` (now by default), e.g. by this instance once its transaction committed. */
  add(sessionIds: readonly string[], at?: Date): void;
  /** Resolves true once the list is trusted, or false after the timeout or once closed. */
  ready(timeoutMs?: number): Promise<boolean>;
  /** The id in this follower's heartbeat payloads (`hb:<id>:<n>`). */
  readonly listenerId: string;
  /** The connection currently in use, if any (tests: make it deaf). */
  readonly connection: ListenerConnection | undefined;
  close(): Promise<void>;
}

const FIRST_RETRY_MS = 100;
const MAX_RETRY_MS = 5_000;

export function followRevocations(options: RevocationFollowerOptions): RevocationFollower {
  const { connection, reload, retainSeconds, now, onLost, onDeaf } = options;
  const heartbeatMs = options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;
  if (!Number.isFinite(retainSeconds) || retainSeconds <= 0) throw new RangeError('retainSeconds must be a positive number');
  if (!Number.isFinite(heartbeatMs) || heartbeatMs < 0) throw new RangeError('heartbeatMs must be a non-negative number');
  const listenerId = Math.random().toString(36).slice(2, 10);
  const ownHeartbeat = `${HEARTBEAT_PREFIX}${listenerId}:`;
  /** Session id -> when (ms since epoch) its entry may be forgotten. */
  const revoked = new Map<string, number>();
  let trusted = connection === undefined;
  let closed = false;
  let current: ListenerConnection | undefined;
  let stopCurrentHeartbeats: (() => void) | undefined;
  let retryTimer: ReturnType<typeof setTimeout> | undefined;
  let retryDelayMs = FIRST_RETRY_MS;
  const waiters = new Set<() => void>();

  const add = (ids: readonly string[], at: Date = now()) => {
    const until = at.getTime() + retainSeconds * 1000;
    for (const id of ids) if (id) revoked.set(id, Math.max(until, revoked.get(id) ?? 0));
  };
  const prune = () => {
    const at = now().getTime();
    for (const [id, until] of revoked) if (until <= at) revoked.delete(id);
  };
  const pruner = setInterval(prune, 60_000);
  pruner.unref();

  const setTrusted = (value: boolean) => {
    trusted = value;
    if (value) for (const wake of waiters) wake();
  };

  async function connect(open: () => ListenerConnection | Promise<ListenerConnection>): Promise<void> {
    if (closed) return;
    const next = await open();
    if (closed) return;
    current = next;
    let failed = false;
    // Heartbeats: sent every heartbeatMs; `watchdog` fires when none came back within twice that.
    let beat: ReturnType<typeof setInterval> | undefined;
    let watchdog: ReturnType<typeof setTimeout> | undefined;
    let sent = 0;
    let deaf = false;
    let resyncing = false;
    const stopHeartbeats = () => {
      clearInterval(beat);
      clearTimeout(watchdog);
    };
    stopCurrentHeartbeats = stopHeartbeats;
    const armWatchdog = () => {
      clearTimeout(watchdog);
      watchdog = setTimeout(() => {
        if (failed || closed) return;
        if (!deaf) {
          deaf = true;
          setTrusted(false);
          onDeaf?.();
          armWatchdog();
        } else {
          // Still deaf after twice the interval again: try a new connection.
          lost(new Error('revocation listener stopped hearing its own heartbeats'));
        }
      }, 2 * heartbeatMs);
    };
    const heard = () => {
      if (failed || closed) return;
      armWatchdog();
      if (!deaf || resyncing) return;
      // Hearing again: reload what was revoked while deaf, then trust the list again.
      resyncing = true;
      const since = new Date(now().getTime() - retainSeconds * 1000);
      reload(since, next)
        .then((sessions) => {
          for (const session of sessions) add([session.id], session.revokedAt);
          if (failed || closed) return;
          deaf = false;
          setTrusted(true);
        })
        .catch((error: unknown) => lost(error))
        .finally(() => {
          resyncing = false;
        });
    };
    const startHeartbeats = () => {
      if (heartbeatMs === 0) return;
      armWatchdog();
      beat = setInterval(() => {
        if (failed || closed) return;
        sent += 1;
        // Fire and forget: a connection that hangs is caught by the watchdog, one that fails by 'error'.
        next.query('select pg_notify($1, $2)', [REVOCATION_CHANNEL, `${ownHeartbeat}${sent}`]).catch(() => undefined);
      }, heartbeatMs);
      (beat as { unref?: () => void }).unref?.();
    };
    const lost = (reason: unknown) => {
      if (failed) return;
      failed = true;
      stopHeartbeats();
      setTrusted(false);
      next.end().catch(() => undefined);
      if (closed) return;
      onLost?.(reason);
      retryTimer = setTimeout(() => void connect(open).catch(() => undefined), retryDelayMs);
      retryDelayMs = Math.min(retryDelayMs * 2, MAX_RETRY_MS);
    };
    next.on('error', lost);
    next.on('end', () => lost(new Error('connection ended')));
    next.on('notification', (message) => {
      if (message.channel !== REVOCATION_CHANNEL || !message.payload) return;
      if (message.payload.startsWith(HEARTBEAT_PREFIX)) {
        if (message.payload.startsWith(ownHeartbeat)) heard();
        return;
      }
      add(message.payload.split(','));
    });
    try {
      await next.connect();
      // Listen first, then reload: a revocation committed in between is caught by one or the other.
      await next.query(`LISTEN ${REVOCATION_CHANNEL}`);
      const since = new Date(now().getTime() - retainSeconds * 1000);
      for (const session of await reload(since, next)) add([session.id], session.revokedAt);
      if (failed || closed) return;
      retryDelayMs = FIRST_RETRY_MS;
      setTrusted(true);
      startHeartbeats();
    } catch (error) {
      lost(error);
    }
  }

  if (connection !== undefined) void connect(connection).catch(() => undefined);

  return {
    isRevoked(sessionId) {
      const until = revoked.get(sessionId);
      return until !== undefined && until > now().getTime();
    },
    get trusted() {
      return trusted;
    },
    add: (ids, at) => add(ids, at),
    listenerId,
    get connection() {
      return current;
    },
    ready(timeoutMs = 5_000) {
      if (trusted || closed) return Promise.resolve(trusted);
      return new Promise((resolve) => {
        const wake = () => {
          clearTimeout(timer);
          waiters.delete(wake);
          resolve(trusted);
        };
        const timer = setTimeout(wake, timeoutMs);
        waiters.add(wake);
      });
    },
    async close() {
      closed = true;
      setTrusted(false);
      clearInterval(pruner);
      clearTimeout(retryTimer);
      for (const wake of waiters) wake();
      stopCurrentHeartbeats?.();
      await current?.end().catch(() => undefined);
    },
  };
}
