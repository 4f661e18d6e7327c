import { EventEmitter } from 'node:events';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { followRevocations, type ListenerConnection, REVOCATION_CHANNEL, type RevokedSession, revocationPayloads } from './revocations.js';

const ID = '00000000-0000-4000-8000-000000000001';
const OTHER = '00000000-0000-4000-8000-000000000002';

/** A connection that records what it is asked and fails or notifies when told. */
/** Makes the follower's current connection deaf (or hear again). */
function setDeaf(connections: FakeConnection[], index: number, deaf: boolean) {
  const connection = connections[index];
  if (!connection) throw new Error(`no connection ${index}`);
  connection.deaf = deaf;
}

class FakeConnection extends EventEmitter implements ListenerConnection {
  readonly queries: string[] = [];
  ended = false;
  connectFails = false;
  /** Set: notifications are silently no longer delivered (no error, no end: the deaf case). */
  deaf = false;
  async connect() {
    if (this.connectFails) throw new Error('connection refused');
  }
  async query(text: string, values?: unknown[]) {
    this.queries.push(text);
    // As PostgreSQL does, a NOTIFY of a listening session comes back to it once committed.
    if (text.startsWith('select pg_notify') && values) {
      const [channel, payload] = values as [string, string];
      setTimeout(() => this.notify(channel, payload), 1);
    }
  }
  async end() {
    this.ended = true;
  }
  notify(channel: string, payload: string) {
    if (this.deaf) return;
    this.emit('notification', { channel, payload });
  }
}

let nowMs = Date.parse('2026-01-01T00:00:00Z');
const now = () => new Date(nowMs);

function setup(rows: RevokedSession[] = [], heartbeatMs?: number) {
  const connections: FakeConnection[] = [];
  const lost: unknown[] = [];
  const deaf: number[] = [];
  const reloads: Date[] = [];
  const follower = followRevocations({
    connection: () => {
      const connection = new FakeConnection();
      connections.push(connection);
      return connection;
    },
    reload: async (since) => {
      reloads.push(since);
      return rows;
    },
    retainSeconds: 60,
    now,
    onLost: (reason) => lost.push(reason),
    onDeaf: () => deaf.push(nowMs),
    heartbeatMs,
  });
  return { follower, connections, lost, reloads, deaf };
}

beforeEach(() => {
  vi.useFakeTimers();
  nowMs = Date.parse('2026-01-01T00:00:00Z');
});
afterEach(() => {
  vi.useRealTimers();
});

describe('a follower without a connection (the only instance)', () => {
  it('is trusted at once, knows what it was told, and forgets it once no access token can still be valid', async () => {
    const follower = followRevocations({ reload: async () => [], retainSeconds: 60, now });
    expect(follower.trusted).toBe(true);
    expect(await follower.ready()).toBe(true);
    follower.add([ID]);
    expect(follower.isRevoked(ID)).toBe(true);
    expect(follower.isRevoked(OTHER)).toBe(false);
    nowMs += 61_000;
    expect(follower.isRevoked(ID)).toBe(false);
    await follower.close();
    expect(follower.trusted).toBe(false);
  });
});

describe('a follower with a connection', () => {
  it('listens, then reloads what was revoked within retainSeconds, and only then trusts its list', async () => {
    const revokedAt = new Date(nowMs - 30_000);
    const { follower, connections, reloads } = setup([{ id: ID, revokedAt }]);
    expect(follower.trusted).toBe(false);
    expect(await follower.ready()).toBe(true);
    expect(connections[0]?.queries).toEqual([`LISTEN ${REVOCATION_CHANNEL}`]);
    expect(reloads).toEqual([new Date(nowMs - 60_000)]);
    expect(follower.isRevoked(ID)).toBe(true);
    // Kept for retainSeconds after its revocation, not after the reload.
    nowMs += 31_000;
    expect(follower.isRevoked(ID)).toBe(false);
    await follower.close();
  });

  it('adds the sessions of a notification on its channel, and ignores other channels', async () => {
    const { follower, connections } = setup();
    await follower.ready();
    connections[0]?.notify('another_channel', ID);
    expect(follower.isRevoked(ID)).toBe(false);
    connections[0]?.notify(REVOCATION_CHANNEL, `${ID},${OTHER}`);
    expect(follower.isRevoked(ID)).toBe(true);
    expect(follower.isRevoked(OTHER)).toBe(true);
    await follower.close();
  });

  it('a later, older revocation of the same session does not shorten how long it is kept', async () => {
    const { follower } = setup();
    await follower.ready();
    follower.add([ID]);
    follower.add([ID], new Date(nowMs - 50_000));
    nowMs += 30_000;
    expect(follower.isRevoked(ID)).toBe(true);
    await follower.close();
  });

  it('distrusts its list when the connection is lost, then reconnects, reloads and trusts it again', async () => {
    const { follower, connections, lost, reloads } = setup();
    await follower.ready();
    connections[0]?.emit('error', new Error('terminating connection'));
    expect(follower.trusted).toBe(false);
    expect(connections[0]?.ended).toBe(true);
    expect(lost).toHaveLength(1);
    // A second signal of the same loss is not a second loss.
    connections[0]?.emit('end');
    expect(lost).toHaveLength(1);

    const ready = follower.ready(10_000);
    await vi.advanceTimersByTimeAsync(100);
    expect(await ready).toBe(true);
    expect(connections).toHaveLength(2);
    expect(reloads).toHaveLength(2);
    await follower.close();
  });

  it('retries a failing database with a growing delay, up to 5 s', async () => {
    const connections: FakeConnection[] = [];
    const follower = followRevocations({
      connection: () => {
        const connection = new FakeConnection();
        connection.connectFails = true;
        connections.push(connection);
        return connection;
      },
      reload: async () => [],
      retainSeconds: 60,
      now,
    });
    await vi.advanceTimersByTimeAsync(0);
    expect(connections).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(100);
    expect(connections).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(199);
    expect(connections).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1);
    expect(connections).toHaveLength(3);
    await vi.advanceTimersByTimeAsync(100 + 200 + 400 + 800 + 1600 + 3200 + 5000);
    expect(connections.length).toBeLessThanOrEqual(9);
    expect(follower.trusted).toBe(false);
    await follower.close();
  });

  it('once closed, ends its connection, is never trusted again and does not reconnect', async () => {
    const { follower, connections, lost } = setup();
    await follower.ready();
    await follower.close();
    expect(connections[0]?.ended).toBe(true);
    expect(follower.trusted).toBe(false);
    expect(await follower.ready(1_000)).toBe(false);
    connections[0]?.emit('end');
    await vi.advanceTimersByTimeAsync(10_000);
    expect(connections).toHaveLength(1);
    expect(lost).toHaveLength(0);
  });

  it('ready resolves false after its timeout while the database cannot be reached', async () => {
    let release: () => void = () => undefined;
    const follower = followRevocations({
      connection: () => new FakeConnection(),
      reload: () => new Promise<RevokedSession[]>((resolve) => (release = () => resolve([]))),
      retainSeconds: 60,
      now,
    });
    const ready = follower.ready(2_000);
    await vi.advanceTimersByTimeAsync(2_000);
    expect(await ready).toBe(false);
    release();
    await vi.advanceTimersByTimeAsync(0);
    expect(follower.trusted).toBe(true);
    await follower.close();
  });
});

describe('a follower that proves it still hears (heartbeats)', () => {
  it('a listener that keeps hearing its own heartbeat stays trusted, and heartbeats are not session ids', async () => {
    const { follower, connections, deaf } = setup([], 1_000);
    await follower.ready();
    await vi.advanceTimersByTimeAsync(10_000);
    expect(follower.trusted).toBe(true);
    expect(deaf).toEqual([]);
    expect(connections).toHaveLength(1);
    expect(connections[0]?.queries.filter((q) => q.startsWith('select pg_notify'))).toHaveLength(10);
    expect(follower.isRevoked(`hb:${follower.listenerId}:1`)).toBe(false);
    // Another instance's heartbeat on the channel is neither a session id nor ours.
    connections[0]?.notify(REVOCATION_CHANNEL, 'hb:someoneelse:7');
    expect(follower.isRevoked('hb:someoneelse:7')).toBe(false);
    await follower.close();
  });

  it('a listener that stops hearing its own heartbeat is no longer trusted within twice the interval', async () => {
    const { follower, connections, lost, deaf } = setup([], 1_000);
    await follower.ready();
    await vi.advanceTimersByTimeAsync(3_500);
    expect(follower.trusted).toBe(true);
    const deafFrom = Date.now();
    // No error, no end: the connection silently stops delivering.
    setDeaf(connections, 0, true);
    await vi.advanceTimersByTimeAsync(1_999);
    // The last heartbeat heard was at most 1 s before; 2 s after it the list is distrusted.
    expect(follower.trusted).toBe(false);
    expect(Date.now() - deafFrom).toBeLessThan(2_000);
    expect(deaf).toHaveLength(1);
    expect(lost).toEqual([]);
    await follower.close();
  });

  it('a listener that hears again reloads what was revoked meanwhile before it is trusted again', async () => {
    const rows: RevokedSession[] = [];
    const { follower, connections, reloads } = setup(rows, 1_000);
    await follower.ready();
    setDeaf(connections, 0, true);
    await vi.advanceTimersByTimeAsync(2_000);
    expect(follower.trusted).toBe(false);
    // Revoked by another instance while this one was deaf: the notification never arrived.
    rows.push({ id: ID, revokedAt: new Date(nowMs) });
    connections[0]?.notify(REVOCATION_CHANNEL, ID);
    expect(follower.isRevoked(ID)).toBe(false);
    setDeaf(connections, 0, false);
    await vi.advanceTimersByTimeAsync(1_001);
    expect(follower.trusted).toBe(true);
    expect(reloads).toHaveLength(2);
    expect(follower.isRevoked(ID)).toBe(true);
    expect(connections).toHaveLength(1);
    await follower.close();
  });

  it('a listener that stays deaf replaces its connection, and trusts the new one once it has reloaded', async () => {
    const { follower, connections, lost, reloads } = setup([], 1_000);
    await follower.ready();
    setDeaf(connections, 0, true);
    await vi.advanceTimersByTimeAsync(4_000);
    expect(lost).toHaveLength(1);
    expect(connections[0]?.ended).toBe(true);
    await vi.advanceTimersByTimeAsync(100);
    expect(connections).toHaveLength(2);
    expect(follower.trusted).toBe(true);
    expect(reloads).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(follower.trusted).toBe(true);
    await follower.close();
  });

  it('sends no heartbeat once closed', async () => {
    const { follower, connections } = setup([], 1_000);
    await follower.ready();
    await follower.close();
    await vi.advanceTimersByTimeAsync(5_000);
    expect(connections[0]?.queries).toEqual([`LISTEN ${REVOCATION_CHANNEL}`]);
  });
});

describe('revocationPayloads', () => {
  it('splits hundreds of ids into NOTIFY payloads of at most 200 ids, under 8000 bytes each', () => {
    const ids = Array.from({ length: 450 }, (_, i) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`);
    const payloads = revocationPayloads(ids);
    expect(payloads.map((p) => p.split(',').length)).toEqual([200, 200, 50]);
    expect(payloads.join(',')).toBe(ids.join(','));
    for (const payload of payloads) expect(Buffer.byteLength(payload)).toBeLessThan(8000);
    expect(revocationPayloads([])).toEqual([]);
  });
});
