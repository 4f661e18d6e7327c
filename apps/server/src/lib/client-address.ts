/**
 * Which address a request comes from, with Express's `trust proxy` semantics: walk from the socket
 * leftwards through `X-Forwarded-For` while the hop is trusted. What a client wrote further left
 * is never believed. An address that cannot be known is `undefined`, and the throttles count all
 * such requests under one shared key: they fail closed, never open.
 */
import { BlockList, isIP } from 'node:net';

/** `false`: the socket; `true` or a number: that many proxies in front; a list: the proxies' CIDRs. */
export type TrustProxy = boolean | number | readonly string[];

function parseRange(range: string): { address: string; prefix: number; family: 'ipv4' | 'ipv6' } | undefined {
  const [address = '', prefixText] = range.trim().split('/');
  const version = isIP(address);
  if (version === 0) return undefined;
  const max = version === 4 ? 32 : 128;
  const prefix = prefixText === undefined ? max : Number(prefixText);
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > max || (prefixText !== undefined && !/^\d+$/.test(prefixText))) return undefined;
  return { address, prefix, family: version === 4 ? 'ipv4' : 'ipv6' };
}

/** The entries that are not addresses or CIDR ranges (for the configuration's error line). */
export function invalidRanges(ranges: readonly string[]): string[] {
  return ranges.filter((range) => parseRange(range) === undefined);
}

/** IPv4-mapped IPv6 (`::ffff:192.0.2.1`, how a dual-stack socket reports IPv4) as plain IPv4. */
function unmapped(address: string): string {
  const match = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return match?.[1] ?? address;
}

export function createAddressResolver(
  trust: TrustProxy,
): (socket: string | undefined, forwardedFor: string | string[] | undefined) => string | undefined {
  const hops = trust === true ? 1 : typeof trust === 'number' ? trust : 0;
  let trusted: BlockList | undefined;
  if (Array.isArray(trust)) {
    trusted = new BlockList();
    for (const range of trust as readonly string[]) {
      const parsed = parseRange(range);
      if (!parsed) throw new Error(`not an address or CIDR range: ${range}`);
      trusted.addSubnet(parsed.address, parsed.prefix, parsed.family);
    }
  }
  const isTrusted = (address: string) => {
    const version = isIP(address);
    return version !== 0 && trusted !== undefined && trusted.check(address, version === 4 ? 'ipv4' : 'ipv6');
  };

  return (socket, forwardedFor) => {
    if (socket === undefined) return undefined;
    if (hops === 0 && trusted === undefined) return valid(socket);
    const forwarded = (Array.isArray(forwardedFor) ? forwardedFor.join(',') : (forwardedFor ?? ''))
      .split(',')
      .map((entry) => entry.trim())
      .filter(Boolean);
    // Nearest first: the socket, then the entries each proxy appended, right to left.
    const chain = [socket, ...forwarded.reverse()];
    let index = 0;
    if (trusted !== undefined) {
      while (index < chain.length - 1 && isTrusted(unmapped(chain[index] ?? ''))) index += 1;
    } else {
      index = Math.min(hops, chain.length - 1);
    }
    return valid(chain[index]);
  };
}

function valid(address: string | undefined): string | undefined {
  if (address === undefined) return undefined;
  const plain = unmapped(address.replace(/%.*$/, ''));
  return isIP(plain) === 0 ? undefined : plain;
}

/** Expands an IPv6 address to its eight groups. */
function ipv6Groups(address: string): string[] {
  const [head = '', tail] = address.split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  // An embedded IPv4 tail (`::1.2.3.4`) is two groups.
  const last = right.at(-1) ?? left.at(-1);
  if (last?.includes('.')) {
    const octets = last.split('.').map(Number);
    const groups = [((octets[0] ?? 0) << 8) | (octets[1] ?? 0), ((octets[2] ?? 0) << 8) | (octets[3] ?? 0)].map((n) => n.toString(16));
    if (right.length) right.splice(-1, 1, ...groups);
    else left.splice(-1, 1, ...groups);
  }
  const missing = 8 - left.length - right.length;
  return [...left, ...Array<string>(tail === undefined ? 0 : missing).fill('0'), ...right].map((g) =>
    g.toLowerCase().replace(/^0+(?=.)/, ''),
  );
}

/**
 * The key a client address is throttled under: IPv4 as it is, IPv6 by its /64 (one subscriber
 * gets a whole /64, so any finer key gives them unlimited addresses), and one shared key for every
 * request whose address is unknown.
 */
export function addressBucket(address: string | undefined): string {
  const plain = valid(address);
  if (plain === undefined) return 'unknown';
  if (isIP(plain) === 4) return plain;
  return `${ipv6Groups(plain).slice(0, 4).join(':')}::/64`;
}
