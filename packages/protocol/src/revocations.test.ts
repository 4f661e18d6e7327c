import { EventEmitter } from 'node:events';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { followRevocations, type ListenerConnection, REVOCATION_CHANNEL, type RevokedSession, revocationPayloads } from './revocations.js';

const ID = '00000000-0000-4000-8000-000000000001';
const OTHER = '00000000-0000-4000-8000-000000000002';

/** A connection that records what it is asked and fails or notifies when told. */
class FakeConnection extends EventEmitter implements ListenerConnection {
  readonly queries: string[] = [];
  ended = false;
  connectFails = false;
  async connect() {
    if (this.connectFails) throw new Error('connection refused');
  }
  async query(text: string) {
    this.queries.push(text);
  }
  async end() {
    this.ended = true;
  }
  notify(channel: string, payload: string) {
    this.emit('notification', { channel, payload });
  }
}

let nowMs = Date.parse('2026-01-01T00:00:00Z');
const now = () => new Date(nowMs);

function setup(rows: RevokedSession[] = []) {
  const connections: FakeConnection[] = [];
  const lost: unknown[] = [];
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
  });
  return { follower, connections, lost, reloads };
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
