import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { creationOptions, PASSKEY_CHALLENGE_TTL_SECONDS, requestOptions } from './passkey.options.js';

const rp = { rpId: 'auth.example.com', rpName: 'Acme' };
const challenge = randomBytes(32).toString('base64url');
const handle = randomBytes(32).toString('base64url');

describe('passkey ceremony options', () => {
  it('registration: a discoverable, user-verified credential under the account handle, its own credentials excluded', async () => {
    const options = await creationOptions(
      rp,
      { handle, email: 'ada@example.com', username: 'ada' },
      [
        { credential_id: 'Y3JlZC0x', transports: 'internal hybrid' },
        { credential_id: 'Y3JlZC0y', transports: '' },
      ],
      challenge,
    );
    expect(options).toMatchObject({
      challenge,
      rp: { id: 'auth.example.com', name: 'Acme' },
      user: { id: handle, name: 'ada@example.com', displayName: 'ada' },
      attestation: 'none',
      timeout: PASSKEY_CHALLENGE_TTL_SECONDS * 1000,
      authenticatorSelection: { residentKey: 'required', requireResidentKey: true, userVerification: 'required' },
      excludeCredentials: [
        { id: 'Y3JlZC0x', type: 'public-key', transports: ['internal', 'hybrid'] },
        { id: 'Y3JlZC0y', type: 'public-key', transports: [] },
      ],
    });
    expect(options.pubKeyCredParams.map((p) => p.alg)).toEqual([-8, -7, -257]);
    // The handle is the account's random bytes, not derived from anything the account shows.
    expect(Buffer.from(options.user.id, 'base64url')).toHaveLength(32);
  });

  it('authentication: user verification required; no credentials listed means any discoverable one', async () => {
    const anyone = await requestOptions(rp, [], challenge);
    expect(anyone).toMatchObject({ challenge, rpId: 'auth.example.com', userVerification: 'required', allowCredentials: [] });
    const listed = await requestOptions(rp, [{ credential_id: 'Y3JlZC0x', transports: 'usb' }], challenge);
    expect(listed.allowCredentials).toEqual([{ id: 'Y3JlZC0x', type: 'public-key', transports: ['usb'] }]);
    expect(listed.timeout).toBe(PASSKEY_CHALLENGE_TTL_SECONDS * 1000);
  });
});
