import { describe, expect, it } from 'vitest';
import { parseDuration } from './duration.js';

describe('parseDuration', () => {
  it.each([
    ['30s', 30],
    ['15m', 900],
    ['1h', 3600],
    ['7d', 604_800],
    ['45', 45],
  ])('reads %j as %i seconds', (text, seconds) => {
    expect(parseDuration(text)).toBe(seconds);
  });

  it.each(['', '0', '0s', '-5s', '1w', 'abc', '1.5h', 'h', '15 minutes'])('refuses %j', (text) => {
    expect(parseDuration(text)).toBeUndefined();
  });
});
