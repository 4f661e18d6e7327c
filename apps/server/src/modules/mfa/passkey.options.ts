/**
 * The options of passkey ceremonies, as @simplewebauthn/browser's startRegistration and
 * startAuthentication take them: what the server asks of the authenticator. Pure: the service
 * gives the relying party, the account's handle, its credentials and the challenge.
 */
import {
  generateAuthenticationOptions,
  generateRegistrationOptions,
  type PublicKeyCredentialCreationOptionsJSON,
  type PublicKeyCredentialRequestOptionsJSON,
} from '@simplewebauthn/server';
import type { PasskeyRow } from '../../db/schema.js';

/** How long a ceremony may take, from its options to its answer. */
export const PASSKEY_CHALLENGE_TTL_SECONDS = 5 * 60;
/** Ed25519, ES256, RS256: what authenticators make. */
export const PASSKEY_ALGORITHMS = [-8, -7, -257];

export interface RelyingParty {
  rpId: string;
  rpName: string;
}

type Credential = Pick<PasskeyRow, 'credential_id' | 'transports'>;

export const transportsOf = (row: Pick<PasskeyRow, 'transports'>): string[] => (row.transports === '' ? [] : row.transports.split(' '));
const descriptors = (rows: readonly Credential[]) => rows.map((row) => ({ id: row.credential_id, transports: transportsOf(row) }));

/**
 * A discoverable credential with user verification and no attestation, under the account's
 * random handle (`user.id`: never its email or id), excluding the credentials it has.
 */
export function creationOptions(
  rp: RelyingParty,
  user: { handle: string; email: string; username: string },
  existing: readonly Credential[],
  challenge: string,
): Promise<PublicKeyCredentialCreationOptionsJSON> {
  return generateRegistrationOptions({
    rpName: rp.rpName,
    rpID: rp.rpId,
    userName: user.email,
    userDisplayName: user.username,
    userID: Buffer.from(user.handle, 'base64url'),
    challenge: Buffer.from(challenge, 'base64url'),
    timeout: PASSKEY_CHALLENGE_TTL_SECONDS * 1000,
    attestationType: 'none',
    excludeCredentials: descriptors(existing),
    authenticatorSelection: { residentKey: 'required', userVerification: 'required' },
    supportedAlgorithmIDs: PASSKEY_ALGORITHMS,
  });
}

/** An assertion with user verification, from one of `allow` (none listed: any discoverable credential). */
export function requestOptions(
  rp: RelyingParty,
  allow: readonly Credential[],
  challenge: string,
): Promise<PublicKeyCredentialRequestOptionsJSON> {
  return generateAuthenticationOptions({
    rpID: rp.rpId,
    allowCredentials: descriptors(allow),
    userVerification: 'required',
    timeout: PASSKEY_CHALLENGE_TTL_SECONDS * 1000,
    challenge: Buffer.from(challenge, 'base64url'),
  });
}
