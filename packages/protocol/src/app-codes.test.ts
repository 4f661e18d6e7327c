import { describe, expect, it } from 'vitest';
import { ACCESS_TOKEN_REFUSALS, APP_CODE_MESSAGES, APP_CODES } from './app-codes.js';

describe('the appCode catalogue', () => {
  it('gives every code a message', () => {
    expect(Object.keys(APP_CODE_MESSAGES).sort()).toEqual(Object.keys(APP_CODES).sort());
  });

  it('sends every access-token refusal as UNAUTHORIZED, so that a client knows to refresh', () => {
    for (const code of ACCESS_TOKEN_REFUSALS) expect(APP_CODES[code]).toBe('UNAUTHORIZED');
  });
});
