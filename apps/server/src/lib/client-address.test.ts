import { describe, expect, it } from 'vitest';
import { addressBucket, createAddressResolver, invalidRanges } from './client-address.js';

describe('client address', () => {
  it('without a trusted proxy, is the socket address whatever X-Forwarded-For says', () => {
    const resolve = createAddressResolver(false);
    expect(resolve('203.0.113.5', '198.51.100.1')).toBe('203.0.113.5');
    expect(resolve('::ffff:203.0.113.5', undefined)).toBe('203.0.113.5');
  });

  it('with n trusted hops, is the entry n places left of the socket, never one a client wrote further left', () => {
    const one = createAddressResolver(true);
    expect(one('10.0.0.1', 'spoofed, 198.51.100.7')).toBe('198.51.100.7');
    const two = createAddressResolver(2);
    expect(two('10.0.0.1', '1.1.1.1, 198.51.100.7, 10.0.0.2')).toBe('198.51.100.7');
    // Fewer entries than hops: the furthest one there is.
    expect(two('10.0.0.1', '198.51.100.7')).toBe('198.51.100.7');
  });

  it('with proxy CIDRs, walks left past trusted proxies only', () => {
    const resolve = createAddressResolver(['10.0.0.0/8', 'fd00::/8']);
    expect(resolve('10.0.0.1', '1.1.1.1, 198.51.100.7, 10.1.2.3')).toBe('198.51.100.7');
    expect(resolve('203.0.113.9', '198.51.100.7')).toBe('203.0.113.9');
    expect(resolve('fd00::1', '2001:db8::5')).toBe('2001:db8::5');
  });

  it('an address that cannot be known is undefined, not a made-up string', () => {
    const resolve = createAddressResolver(true);
    expect(resolve(undefined, '198.51.100.7')).toBeUndefined();
    expect(resolve('10.0.0.1', 'not-an-address')).toBeUndefined();
  });

  it('refuses CIDR lists it cannot read', () => {
    expect(invalidRanges(['10.0.0.0/8', '10.0.0.0/33', 'proxy.local', '::1'])).toEqual(['10.0.0.0/33', 'proxy.local']);
  });
});

describe('throttle bucket of an address', () => {
  it('keys IPv6 by its /64, so that one subscriber cannot rotate through their prefix', () => {
    expect(addressBucket('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
    expect(addressBucket('2001:0db8:0001:0002:ffff:ffff:ffff:ffff')).toBe('2001:db8:1:2::/64');
    expect(addressBucket('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(addressBucket('::1')).toBe('0:0:0:0::/64');
  });

  it('keeps IPv4 as it is, also when mapped into IPv6', () => {
    expect(addressBucket('192.0.2.1')).toBe('192.0.2.1');
    expect(addressBucket('::ffff:192.0.2.1')).toBe('192.0.2.1');
  });

  it('counts every unknown address under one shared key', () => {
    expect(addressBucket(undefined)).toBe('unknown');
    expect(addressBucket('garbage')).toBe('unknown');
  });
});
