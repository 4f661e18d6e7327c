import { describe, expect, it } from 'vitest';
import { cookieValue, redirectAllowed } from './identity.service.js';

describe('ALLOWED_REDIRECTS', () => {
  const allowed = ['https://app.example.com', 'https://admin.example.com/auth'];

  it('an exact origin allows any page of it; a prefix ends at a path segment', () => {
    expect(redirectAllowed('https://app.example.com/anything?x=1', allowed)).toBe(true);
    expect(redirectAllowed('https://admin.example.com/auth', allowed)).toBe(true);
    expect(redirectAllowed('https://admin.example.com/auth/done', allowed)).toBe(true);
    expect(redirectAllowed('https://admin.example.com/authority', allowed)).toBe(false);
    expect(redirectAllowed('https://admin.example.com/', allowed)).toBe(false);
  });

  it('refuses other origins, look-alikes, credentials in the URL and other schemes', () => {
    for (const url of [
      'https://evil.example',
      'https://app.example.com.evil.example/',
      'https://app.example.com@evil.example/',
      'https://user:pass@app.example.com/',
      'http://app.example.com/',
      'javascript:alert(1)',
      '//evil.example',
      'not a url',
      `https://app.example.com/${'x'.repeat(3000)}`,
    ])
      expect(redirectAllowed(url, allowed), url).toBe(false);
  });
});

describe('the flow cookie', () => {
  it('is read only when given once and well formed', () => {
    expect(cookieValue('a=1; latchkey_oidc_x=abc_-1', 'latchkey_oidc_x')).toBe('abc_-1');
    expect(cookieValue('latchkey_oidc_x=a; latchkey_oidc_x=b', 'latchkey_oidc_x')).toBeUndefined();
    expect(cookieValue('latchkey_oidc_x=a%20b', 'latchkey_oidc_x')).toBeUndefined();
    expect(cookieValue(undefined, 'latchkey_oidc_x')).toBeUndefined();
  });
});
