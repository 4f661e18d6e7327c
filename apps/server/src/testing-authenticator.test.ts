/**
 * The software authenticator is checked against @simplewebauthn/server, the verifier the server
 * uses: if its answers verify there, the server's passkey tests exercise the server, not the tool.
 */
import { createPublicKey } from 'node:crypto';
import {
  type AuthenticationResponseJSON,
  generateAuthenticationOptions,
  generateRegistrationOptions,
  type PublicKeyCredentialCreationOptionsJSON,
  type RegistrationResponseJSON,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
  type WebAuthnCredential,
} from '@simplewebauthn/server';
import {
  cose,
  decodeAttestationObject,
  decodeClientDataJSON,
  decodeCredentialPublicKey,
  parseAuthenticatorData,
} from '@simplewebauthn/server/helpers';
import { describe, expect, it } from 'vitest';
import { type SoftwareAuthenticator, type SoftwareAuthenticatorOptions, softwareAuthenticator } from './testing-authenticator.js';

const ORIGIN = 'http://localhost:5173';
const RP_ID = 'localhost';
const AAGUID = 'adce0002-35bc-c60a-648b-0b25f1f05503';

function registrationOptions(userName: string, excludeCredentials: { id: string }[] = []): Promise<PublicKeyCredentialCreationOptionsJSON> {
  return generateRegistrationOptions({
    rpName: 'Latchkey',
    rpID: RP_ID,
    userName,
    userID: new TextEncoder().encode(`user-${userName}`),
    excludeCredentials,
    authenticatorSelection: { residentKey: 'required', userVerification: 'required' },
  });
}

async function verifyRegistration(response: RegistrationResponseJSON, challenge: string, requireUserVerification = true) {
  return verifyRegistrationResponse({
    response,
    expectedChallenge: challenge,
    expectedOrigin: ORIGIN,
    expectedRPID: RP_ID,
    requireUserVerification,
  });
}

/** Registers a passkey for a user and returns it as the server would store it. */
async function registered(authenticator: SoftwareAuthenticator, userName = 'alice') {
  const options = await registrationOptions(userName);
  const response = await authenticator.register(options);
  const verification = await verifyRegistration(response, options.challenge);
  if (!verification.verified) throw new Error('registration did not verify');
  return { options, credential: verification.registrationInfo.credential };
}

async function verifyAuthentication(
  response: AuthenticationResponseJSON,
  challenge: string,
  credential: WebAuthnCredential,
  requireUserVerification = true,
) {
  return verifyAuthenticationResponse({
    response,
    expectedChallenge: challenge,
    expectedOrigin: ORIGIN,
    expectedRPID: RP_ID,
    credential,
    requireUserVerification,
  });
}

function make(options: Partial<SoftwareAuthenticatorOptions> = {}): SoftwareAuthenticator {
  return softwareAuthenticator({ origin: ORIGIN, ...options });
}

describe('registration', () => {
  it('verifies with user verification required and gives back the credential id, public key, counter and backup flags', async () => {
    const authenticator = make({ backupEligible: true, backedUp: true, aaguid: AAGUID });
    const options = await registrationOptions('alice');
    const response = await authenticator.register(options);
    const verification = await verifyRegistration(response, options.challenge);
    expect(verification.verified).toBe(true);
    if (!verification.verified) return;
    const info = verification.registrationInfo;
    expect(info.credential.id).toBe(response.id);
    expect(info.credential.counter).toBe(0);
    expect(info.credential.transports).toEqual(['internal']);
    expect(info).toMatchObject({
      fmt: 'none',
      aaguid: AAGUID,
      userVerified: true,
      credentialDeviceType: 'multiDevice',
      credentialBackedUp: true,
      origin: ORIGIN,
      rpID: RP_ID,
      credentialType: 'public-key',
    });
    expect(authenticator.credentials).toEqual([{ id: response.id, userHandle: options.user.id, rpId: RP_ID, signCount: 0 }]);

    // The COSE key in the attestation is the key the response's SPKI `publicKey` carries.
    const coseKey = decodeCredentialPublicKey(info.credential.publicKey);
    if (!cose.isCOSEPublicKeyEC2(coseKey)) throw new Error('not an EC2 key');
    expect(coseKey.get(cose.COSEKEYS.kty)).toBe(cose.COSEKTY.EC2);
    expect(coseKey.get(cose.COSEKEYS.alg)).toBe(cose.COSEALG.ES256);
    expect(coseKey.get(cose.COSEKEYS.crv)).toBe(cose.COSECRV.P256);
    const jwk = createPublicKey({ key: Buffer.from(response.response.publicKey, 'base64url'), format: 'der', type: 'spki' }).export({
      format: 'jwk',
    });
    expect(Buffer.from(coseKey.get(cose.COSEKEYS.x) ?? []).toString('base64url')).toBe(jwk.x);
    expect(Buffer.from(coseKey.get(cose.COSEKEYS.y) ?? []).toString('base64url')).toBe(jwk.y);
    expect(response.response.publicKeyAlgorithm).toBe(-7);

    // What a browser sends besides: the authenticator data on its own, credProps (asked for by
    // generateRegistrationOptions), the attachment; and it is plain JSON.
    const attestation = decodeAttestationObject(Buffer.from(response.response.attestationObject, 'base64url'));
    expect(attestation.get('attStmt').size).toBe(0);
    expect(Buffer.from(attestation.get('authData')).toString('base64url')).toBe(response.response.authenticatorData);
    expect(response.clientExtensionResults).toEqual({ credProps: { rk: true } });
    expect(response.authenticatorAttachment).toBe('platform');
    expect(decodeClientDataJSON(response.response.clientDataJSON)).toEqual({
      type: 'webauthn.create',
      challenge: options.challenge,
      origin: ORIGIN,
      crossOrigin: false,
    });
    expect(JSON.parse(JSON.stringify(response))).toEqual(response);
  });

  it('sets UP, AT and no backup flags by default, with an all-zero AAGUID', async () => {
    const authenticator = make();
    const options = await registrationOptions('alice');
    const response = await authenticator.register(options);
    const authData = parseAuthenticatorData(Buffer.from(response.response.authenticatorData, 'base64url'));
    expect(authData.flags).toMatchObject({ up: true, uv: true, be: false, bs: false, at: true, ed: false });
    expect(Buffer.from(authData.aaguid ?? []).equals(Buffer.alloc(16))).toBe(true);
    const verification = await verifyRegistration(response, options.challenge);
    expect(verification.registrationInfo).toMatchObject({
      aaguid: '00000000-0000-0000-0000-000000000000',
      credentialDeviceType: 'singleDevice',
      credentialBackedUp: false,
    });
  });

  it('writes canonical CBOR: the attestation object and the COSE key byte for byte', async () => {
    const response = await make().register(await registrationOptions('alice'));
    const attestationObject = Buffer.from(response.response.attestationObject, 'base64url');
    const authData = Buffer.from(response.response.authenticatorData, 'base64url');
    // {"fmt": "none", "attStmt": {}, "authData": h'...'} (keys shortest first), 148 bytes of authData.
    expect(authData.length).toBe(37 + 16 + 2 + 16 + 77);
    const text = (value: string) => Buffer.concat([Buffer.of(0x60 + value.length), Buffer.from(value)]);
    const head = Buffer.concat([
      Buffer.of(0xa3),
      text('fmt'),
      text('none'),
      text('attStmt'),
      Buffer.of(0xa0),
      text('authData'),
      Buffer.of(0x58, 148),
    ]);
    expect(attestationObject.equals(Buffer.concat([head, authData]))).toBe(true);
    // {1: 2, 3: -7, -1: 1, -2: h'x', -3: h'y'} after rpIdHash, flags, counter, AAGUID, length, id.
    const key = authData.subarray(37 + 16 + 2 + 16);
    expect(key.subarray(0, 10).toString('hex')).toBe('a5010203262001215820');
    expect(key.subarray(42, 45).toString('hex')).toBe('225820');
  });

  it('defaults the RP ID to the origin’s host', async () => {
    const options = await registrationOptions('alice');
    const response = await make().register({ ...options, rp: { name: options.rp.name } });
    expect((await verifyRegistration(response, options.challenge)).verified).toBe(true);
  });

  it('answers without user verification when told to, which a server requiring it refuses', async () => {
    const options = await registrationOptions('alice');
    const response = await make({ userVerified: false }).register(options);
    await expect(verifyRegistration(response, options.challenge)).rejects.toThrow(/User verification was required/);
    const lenient = await verifyRegistration(response, options.challenge, false);
    expect(lenient.verified && lenient.registrationInfo.userVerified).toBe(false);
    const overridden = await make().register(options, { userVerified: false });
    await expect(verifyRegistration(overridden, options.challenge)).rejects.toThrow(/User verification was required/);
  });

  it('fails verification from another origin', async () => {
    const options = await registrationOptions('alice');
    const response = await make().register(options, { origin: 'https://evil.example' });
    await expect(verifyRegistration(response, options.challenge)).rejects.toThrow(/Unexpected response origin "https:\/\/evil.example"/);
  });

  it('refuses when excludeCredentials names a credential it holds, as a browser does', async () => {
    const authenticator = make();
    const { credential } = await registered(authenticator);
    const again = await registrationOptions('alice', [{ id: credential.id }]);
    await expect(authenticator.register(again)).rejects.toMatchObject({ name: 'InvalidStateError' });
    expect(authenticator.credentials).toHaveLength(1);
    // Another authenticator holds no such credential and registers.
    expect((await verifyRegistration(await make().register(again), again.challenge)).verified).toBe(true);
    // Nor does the exclusion reach across RPs.
    await expect(authenticator.register({ ...again, rp: { id: 'other.example', name: 'Other' } })).resolves.toBeDefined();
  });

  it('replaces its credential for the same RP and user, as a discoverable credential store does', async () => {
    const authenticator = make();
    const first = await registered(authenticator);
    const second = await registered(authenticator);
    expect(second.credential.id).not.toBe(first.credential.id);
    expect(authenticator.credentials.map((c) => c.id)).toEqual([second.credential.id]);
    await registered(authenticator, 'bob');
    expect(authenticator.credentials).toHaveLength(2);
  });

  it('refuses options that leave out ES256, and a user id that is not 1 to 64 bytes', async () => {
    const options = await generateRegistrationOptions({
      rpName: 'Latchkey',
      rpID: RP_ID,
      userName: 'alice',
      supportedAlgorithmIDs: [-257],
    });
    await expect(make().register(options)).rejects.toMatchObject({ name: 'NotSupportedError' });
    await expect(make().register({ ...options, pubKeyCredParams: [] })).resolves.toBeDefined();
    await expect(make().register({ ...options, pubKeyCredParams: [], user: { ...options.user, id: '' } })).rejects.toThrow(TypeError);
  });
});

describe('authentication', () => {
  it('verifies with the registered credential, user verification required, counter and flags as set', async () => {
    const authenticator = make({ backupEligible: true });
    const { credential } = await registered(authenticator);
    const options = await generateAuthenticationOptions({
      rpID: RP_ID,
      allowCredentials: [{ id: credential.id }],
      userVerification: 'required',
    });
    const response = await authenticator.authenticate(options);
    expect(response.id).toBe(credential.id);
    const verification = await verifyAuthentication(response, options.challenge, credential);
    expect(verification.verified).toBe(true);
    expect(verification.authenticationInfo).toMatchObject({
      credentialID: credential.id,
      newCounter: 1,
      userVerified: true,
      credentialDeviceType: 'multiDevice',
      credentialBackedUp: false,
      origin: ORIGIN,
      rpID: RP_ID,
    });
    expect(decodeClientDataJSON(response.response.clientDataJSON)).toEqual({
      type: 'webauthn.get',
      challenge: options.challenge,
      origin: ORIGIN,
      crossOrigin: false,
    });
    expect(JSON.parse(JSON.stringify(response))).toEqual(response);
  });

  it('answers usernameless requests with its newest credential for the RP, carrying the user handle', async () => {
    const authenticator = make();
    const alice = await registered(authenticator, 'alice');
    const bob = await registered(authenticator, 'bob');
    await authenticator.register({ ...(await registrationOptions('carol')), rp: { id: 'other.example', name: 'Other' } });
    const options = await generateAuthenticationOptions({ rpID: RP_ID });
    expect(options.allowCredentials).toBeUndefined();
    const response = await authenticator.authenticate(options);
    expect(response.id).toBe(bob.credential.id);
    expect(response.response.userHandle).toBe(bob.options.user.id);
    expect((await verifyAuthentication(response, options.challenge, bob.credential)).verified).toBe(true);
    // With allowCredentials: the first it holds among them.
    const named = await generateAuthenticationOptions({
      rpID: RP_ID,
      allowCredentials: [{ id: 'AAAAAAAAAAAAAAAAAAAAAA' }, { id: alice.credential.id }, { id: bob.credential.id }],
    });
    const answer = await authenticator.authenticate(named);
    expect(answer.id).toBe(alice.credential.id);
    expect(answer.response.userHandle).toBe(alice.options.user.id);
    expect((await verifyAuthentication(answer, named.challenge, alice.credential)).verified).toBe(true);
  });

  it('answers without user verification when told to, which a server requiring it refuses', async () => {
    const authenticator = make({ userVerified: false });
    const options = await registrationOptions('alice');
    const registration = await verifyRegistration(await authenticator.register(options), options.challenge, false);
    if (!registration.verified) throw new Error('registration did not verify');
    const { credential } = registration.registrationInfo;
    const request = await generateAuthenticationOptions({ rpID: RP_ID });
    const response = await authenticator.authenticate(request);
    await expect(verifyAuthentication(response, request.challenge, credential)).rejects.toThrow(/User verification required/);
    const lenient = await verifyAuthentication(response, request.challenge, credential, false);
    expect(lenient.verified).toBe(true);
    expect(lenient.authenticationInfo.userVerified).toBe(false);

    const verifying = make();
    const passkey = await registered(verifying);
    const overridden = await verifying.authenticate(request, { userVerified: false });
    await expect(verifyAuthentication(overridden, request.challenge, passkey.credential)).rejects.toThrow(/User verification required/);
  });

  it('fails verification from another origin', async () => {
    const authenticator = make();
    const { credential } = await registered(authenticator);
    const options = await generateAuthenticationOptions({ rpID: RP_ID });
    const response = await authenticator.authenticate(options, { origin: 'http://localhost:5174' });
    await expect(verifyAuthentication(response, options.challenge, credential)).rejects.toThrow(/Unexpected response origin/);
  });

  it('fails verification for another challenge and for another credential’s key', async () => {
    const authenticator = make();
    const alice = await registered(authenticator, 'alice');
    const bob = await registered(authenticator, 'bob');
    const options = await generateAuthenticationOptions({ rpID: RP_ID });
    const response = await authenticator.authenticate(options, { credentialId: alice.credential.id });
    await expect(verifyAuthentication(response, 'c29tZXRoaW5nIGVsc2U', alice.credential)).rejects.toThrow(
      /Unexpected authentication response challenge/,
    );
    // The signature is the credential's own: under bob's key it does not verify.
    expect((await verifyAuthentication(response, options.challenge, { ...bob.credential, counter: 0 })).verified).toBe(false);
  });

  it('refuses when it holds no credential to use', async () => {
    const authenticator = make();
    const options = await generateAuthenticationOptions({ rpID: RP_ID });
    await expect(authenticator.authenticate(options)).rejects.toMatchObject({ name: 'NotAllowedError' });
    await registered(authenticator);
    await expect(authenticator.authenticate({ ...options, rpId: 'other.example' })).rejects.toMatchObject({ name: 'NotAllowedError' });
    await expect(
      authenticator.authenticate({ ...options, allowCredentials: [{ id: 'AAAAAAAAAAAAAAAAAAAAAA', type: 'public-key' }] }),
    ).rejects.toMatchObject({
      name: 'NotAllowedError',
    });
    await expect(authenticator.authenticate(options, { credentialId: 'AAAAAAAAAAAAAAAAAAAAAA' })).rejects.toMatchObject({
      name: 'NotAllowedError',
    });
  });

  it('sets the backup flags as overridden; BS without BE is refused by the verifier', async () => {
    const authenticator = make({ backupEligible: true });
    const { credential } = await registered(authenticator);
    const options = await generateAuthenticationOptions({ rpID: RP_ID });
    const synced = await verifyAuthentication(await authenticator.authenticate(options, { backedUp: true }), options.challenge, credential);
    expect(synced.authenticationInfo).toMatchObject({ credentialDeviceType: 'multiDevice', credentialBackedUp: true });
    const impossible = await authenticator.authenticate(options, { backupEligible: false, backedUp: true });
    await expect(verifyAuthentication(impossible, options.challenge, credential)).rejects.toThrow(/Single-device credential/);
  });
});

describe('sign count', () => {
  it("'increment' counts each credential's assertions from 1 (registration reports 0), and each verifies", async () => {
    const authenticator = make();
    const alice = await registered(authenticator, 'alice');
    const bob = await registered(authenticator, 'bob');
    const stored = { ...alice.credential };
    const counters: number[] = [];
    for (let i = 0; i < 3; i++) {
      const options = await generateAuthenticationOptions({ rpID: RP_ID, allowCredentials: [{ id: stored.id }] });
      const verification = await verifyAuthentication(await authenticator.authenticate(options), options.challenge, stored);
      expect(verification.verified).toBe(true);
      stored.counter = verification.authenticationInfo.newCounter;
      counters.push(stored.counter);
    }
    expect(counters).toEqual([1, 2, 3]);
    expect(authenticator.credentials.map((c) => c.signCount)).toEqual([3, 0]);
    const options = await generateAuthenticationOptions({ rpID: RP_ID, allowCredentials: [{ id: bob.credential.id }] });
    expect(
      (await verifyAuthentication(await authenticator.authenticate(options), options.challenge, bob.credential)).authenticationInfo
        .newCounter,
    ).toBe(1);
  });

  it("'zero' always reports 0, which the verifier accepts every time", async () => {
    const authenticator = make({ signCount: 'zero' });
    const { credential } = await registered(authenticator);
    for (let i = 0; i < 3; i++) {
      const options = await generateAuthenticationOptions({ rpID: RP_ID });
      const verification = await verifyAuthentication(await authenticator.authenticate(options), options.challenge, credential);
      expect(verification.verified && verification.authenticationInfo.newCounter).toBe(0);
    }
    expect(authenticator.credentials[0]?.signCount).toBe(0);
  });

  it('an override reports its value once (a clone’s answer) and leaves the credential’s count alone', async () => {
    const authenticator = make();
    const { credential } = await registered(authenticator);
    const options = await generateAuthenticationOptions({ rpID: RP_ID });
    const first = await verifyAuthentication(await authenticator.authenticate(options), options.challenge, credential);
    const stored = { ...credential, counter: first.authenticationInfo.newCounter };
    const replayed = await authenticator.authenticate(options, { signCount: 1 });
    await expect(verifyAuthentication(replayed, options.challenge, stored)).rejects.toThrow(
      /Response counter value 1 was lower than expected 1/,
    );
    const jumped = await verifyAuthentication(await authenticator.authenticate(options, { signCount: 100 }), options.challenge, stored);
    expect(jumped.authenticationInfo.newCounter).toBe(100);
    expect(authenticator.credentials[0]?.signCount).toBe(1);
    const next = await verifyAuthentication(await authenticator.authenticate(options), options.challenge, stored);
    expect(next.authenticationInfo.newCounter).toBe(2);
    await expect(authenticator.authenticate(options, { signCount: -1 })).rejects.toThrow(RangeError);
  });
});

describe('options', () => {
  it('refuses an origin with a path, BS without BE and an AAGUID that is not a UUID', () => {
    expect(() => softwareAuthenticator({ origin: 'http://localhost:5173/' })).toThrow(/not an origin/);
    expect(() => softwareAuthenticator({ origin: 'https://example.com:443' })).toThrow(/https:\/\/example.com\)/);
    expect(() => make({ backedUp: true })).toThrow(/backupEligible/);
    expect(() => make({ aaguid: 'not-a-uuid' })).toThrow(/UUID/);
  });
});
