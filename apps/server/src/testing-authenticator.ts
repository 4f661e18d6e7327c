/**
 * A software WebAuthn authenticator for tests: it answers the options the server hands a browser
 * with the JSON a browser would send back, so passkey sign-up and sign-in run end to end without a
 * browser or a device. It is a platform authenticator (a synced passkey when told it is backed up)
 * holding discoverable ES256 credentials, with 'none' attestation.
 *
 * It plays the browser too, but a lenient one: it does not enforce what the RP asked for (user
 * verification, an RP ID that suits the origin), so that tests can hand the server the answers a
 * real browser would refuse to produce and see that the server refuses them.
 *
 * Written against the specification with node:crypto alone (its own small CBOR encoder), not with
 * the verifier's code, so that a bug shared by the two cannot hide itself.
 */
import { createHash, generateKeyPairSync, type KeyObject, randomBytes, sign } from 'node:crypto';

export interface SoftwareAuthenticatorOptions {
  /** The page's origin the client reports, e.g. `http://localhost:5173` (no path, no trailing slash). */
  origin: string;
  /** The user is verified (PIN, biometrics): sets the UV flag. Default true. */
  userVerified?: boolean;
  /** The credentials may be synced (a passkey manager): sets BE. Default false. */
  backupEligible?: boolean;
  /** The credentials are synced: sets BS, which needs backupEligible. Default false. */
  backedUp?: boolean;
  /**
   * 'increment' (default): each credential counts its assertions, 1, 2, 3, ... (registration
   * reports 0); 'zero': always 0, as synced passkeys do, which tells the server not to check.
   */
  signCount?: 'increment' | 'zero';
  /** The authenticator model's AAGUID (a UUID); default all zeros, as 'none' attestation gives. */
  aaguid?: string;
}

/** A credential the authenticator holds; a snapshot (changing it changes nothing). */
export interface SoftwareCredential {
  /** The credential id, base64url. */
  id: string;
  /** The `user.id` it was registered for, base64url as the options gave it. */
  userHandle: string;
  rpId: string;
  /** The last counter value it reported (0 until its first assertion, and always in 'zero' mode). */
  signCount: number;
}

/** A credential named in `excludeCredentials` / `allowCredentials`. */
export interface CredentialDescriptorJSONLike {
  id: string;
  type: string;
  transports?: readonly string[];
}

/** The fields of PublicKeyCredentialCreationOptionsJSON it reads (and those it ignores, for literals). */
export interface CreationOptionsJSONLike {
  rp: { id?: string; name?: string };
  user: { id: string; name?: string; displayName?: string };
  challenge: string;
  pubKeyCredParams?: readonly { alg: number; type: string }[];
  excludeCredentials?: readonly CredentialDescriptorJSONLike[];
  extensions?: { credProps?: boolean };
  timeout?: number;
  attestation?: string;
  attestationFormats?: readonly string[];
  authenticatorSelection?: object;
  hints?: readonly string[];
}

/** The fields of PublicKeyCredentialRequestOptionsJSON it reads (and those it ignores, for literals). */
export interface RequestOptionsJSONLike {
  challenge: string;
  rpId?: string;
  allowCredentials?: readonly CredentialDescriptorJSONLike[];
  userVerification?: string;
  timeout?: number;
  extensions?: object;
  hints?: readonly string[];
}

/** RegistrationResponseJSON, as a browser's `credential.toJSON()` gives it. */
export interface RegistrationResponseJSONLike {
  id: string;
  rawId: string;
  type: 'public-key';
  response: {
    clientDataJSON: string;
    attestationObject: string;
    authenticatorData: string;
    transports: 'internal'[];
    /** COSE -7, ES256. */
    publicKeyAlgorithm: number;
    /** SubjectPublicKeyInfo, DER, base64url. */
    publicKey: string;
  };
  authenticatorAttachment: 'platform';
  /** `credProps` when the options asked for it (generateRegistrationOptions always does). */
  clientExtensionResults: { credProps?: { rk: boolean } };
}

/** AuthenticationResponseJSON, as a browser's `credential.toJSON()` gives it. */
export interface AuthenticationResponseJSONLike {
  id: string;
  rawId: string;
  type: 'public-key';
  response: {
    clientDataJSON: string;
    authenticatorData: string;
    /** ECDSA over authenticatorData || SHA-256(clientDataJSON), DER. */
    signature: string;
    /** Always set: every credential is discoverable, and such authenticators return it. */
    userHandle: string;
  };
  authenticatorAttachment: 'platform';
  clientExtensionResults: { credProps?: { rk: boolean } };
}

export interface SoftwareAuthenticator {
  /** What it holds, oldest first (snapshots). */
  readonly credentials: readonly SoftwareCredential[];
  /**
   * Creates a discoverable credential for `rp.id` (default: the origin's host) and `user.id`,
   * replacing one it holds for the same RP and user (as the specification's credential map does).
   * Throws InvalidStateError when `excludeCredentials` names one it holds for the RP, and
   * NotSupportedError when `pubKeyCredParams` leaves out ES256.
   */
  register(
    options: CreationOptionsJSONLike,
    overrides?: { origin?: string; userVerified?: boolean },
  ): Promise<RegistrationResponseJSONLike>;
  /**
   * Signs with the first credential for the RP that `allowCredentials` names, or, without it
   * (usernameless), with its newest credential for the RP; `overrides.credentialId` picks any it
   * holds, whatever the options say. Throws NotAllowedError when it has none to use.
   * `overrides.signCount` reports that value this once and leaves the credential's own count
   * alone (a cloned authenticator's answer); the flag overrides make answers no real one gives.
   */
  authenticate(
    options: RequestOptionsJSONLike,
    overrides?: {
      origin?: string;
      userVerified?: boolean;
      credentialId?: string;
      signCount?: number;
      backupEligible?: boolean;
      backedUp?: boolean;
    },
  ): Promise<AuthenticationResponseJSONLike>;
}

/** Authenticator data flags (WebAuthn §6.1). */
const UP = 0x01;
const UV = 0x04;
const BE = 0x08;
const BS = 0x10;
const AT = 0x40;

/** COSE: kty EC2, alg ES256, crv P-256. */
const COSE_KTY = 1;
const COSE_ALG = 3;
const COSE_CRV = -1;
const COSE_X = -2;
const COSE_Y = -3;
const KTY_EC2 = 2;
const ALG_ES256 = -7;
const CRV_P256 = 1;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

interface HeldCredential {
  id: Buffer;
  userHandle: string;
  rpId: string;
  signCount: number;
  privateKey: KeyObject;
}

export function softwareAuthenticator(options: SoftwareAuthenticatorOptions): SoftwareAuthenticator {
  const { userVerified = true, backupEligible = false, backedUp = false, signCount = 'increment' } = options;
  if (new URL(options.origin).origin !== options.origin)
    throw new TypeError(`origin ${options.origin} is not an origin as a browser reports it (${new URL(options.origin).origin})`);
  if (backedUp && !backupEligible) throw new TypeError('backedUp needs backupEligible: a credential that may not be synced is not');
  if (options.aaguid !== undefined && !UUID.test(options.aaguid)) throw new TypeError(`aaguid ${options.aaguid} is not a UUID`);
  const aaguid = options.aaguid === undefined ? Buffer.alloc(16) : Buffer.from(options.aaguid.replaceAll('-', ''), 'hex');
  // Oldest first: "newest" is the last.
  let held: HeldCredential[] = [];

  const holds = (id: string, rpId?: string) => {
    const bytes = Buffer.from(id, 'base64url');
    return held.find((credential) => credential.id.equals(bytes) && (rpId === undefined || credential.rpId === rpId));
  };

  return {
    get credentials() {
      return held.map(({ id, userHandle, rpId, signCount }) => ({ id: id.toString('base64url'), userHandle, rpId, signCount }));
    },

    async register(creation, overrides = {}) {
      const origin = overrides.origin ?? options.origin;
      const rpId = creation.rp.id ?? hostOf(origin);
      const params = creation.pubKeyCredParams ?? [];
      // An empty list means the client's defaults, ES256 among them (WebAuthn §5.1.3).
      if (params.length > 0 && !params.some((param) => param.type === 'public-key' && param.alg === ALG_ES256))
        throw new DOMException('the authenticator only makes ES256 (-7) keys', 'NotSupportedError');
      const userHandleBytes = Buffer.from(creation.user.id, 'base64url');
      if (userHandleBytes.length < 1 || userHandleBytes.length > 64) throw new TypeError('user.id must be 1 to 64 bytes');
      const excluded = (creation.excludeCredentials ?? []).find((descriptor) => holds(descriptor.id, rpId) !== undefined);
      if (excluded !== undefined) throw new DOMException(`the authenticator already holds credential ${excluded.id}`, 'InvalidStateError');

      const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const credential: HeldCredential = { id: randomBytes(16), userHandle: creation.user.id, rpId, signCount: 0, privateKey };
      held = [...held.filter((other) => !(other.rpId === rpId && other.userHandle === creation.user.id)), credential];

      const authenticatorData = Buffer.concat([
        authenticatorDataHead(rpId, flags(overrides.userVerified ?? userVerified, backupEligible, backedUp) | AT, 0),
        aaguid,
        uint16(credential.id.length),
        credential.id,
        coseKey(publicKey),
      ]);
      const attestationObject = cbor(
        new Map<string, CborValue>([
          ['fmt', 'none'],
          ['attStmt', new Map()],
          ['authData', authenticatorData],
        ]),
      );
      const id = credential.id.toString('base64url');
      return {
        id,
        rawId: id,
        type: 'public-key',
        response: {
          clientDataJSON: clientData('webauthn.create', creation.challenge, origin).toString('base64url'),
          attestationObject: attestationObject.toString('base64url'),
          authenticatorData: authenticatorData.toString('base64url'),
          transports: ['internal'],
          publicKeyAlgorithm: ALG_ES256,
          publicKey: publicKey.export({ type: 'spki', format: 'der' }).toString('base64url'),
        },
        authenticatorAttachment: 'platform',
        clientExtensionResults: creation.extensions?.credProps ? { credProps: { rk: true } } : {},
      };
    },

    async authenticate(request, overrides = {}) {
      const origin = overrides.origin ?? options.origin;
      const rpId = request.rpId ?? hostOf(origin);
      const allowed = request.allowCredentials ?? [];
      let credential: HeldCredential | undefined;
      if (overrides.credentialId !== undefined) {
        credential = holds(overrides.credentialId);
        if (credential === undefined)
          throw new DOMException(`the authenticator holds no credential ${overrides.credentialId}`, 'NotAllowedError');
      } else if (allowed.length > 0) {
        credential = allowed.map((descriptor) => holds(descriptor.id, rpId)).find((candidate) => candidate !== undefined);
        if (credential === undefined)
          throw new DOMException(`the authenticator holds none of the allowed credentials for ${rpId}`, 'NotAllowedError');
      } else {
        credential = held.findLast((candidate) => candidate.rpId === rpId);
        if (credential === undefined) throw new DOMException(`the authenticator holds no credential for ${rpId}`, 'NotAllowedError');
      }

      let counter: number;
      if (overrides.signCount !== undefined) {
        if (!Number.isInteger(overrides.signCount) || overrides.signCount < 0 || overrides.signCount > 0xffffffff)
          throw new RangeError('signCount is a 32-bit unsigned integer');
        counter = overrides.signCount;
      } else if (signCount === 'zero') {
        counter = 0;
      } else {
        credential.signCount += 1;
        counter = credential.signCount;
      }

      const authenticatorData = authenticatorDataHead(
        rpId,
        flags(overrides.userVerified ?? userVerified, overrides.backupEligible ?? backupEligible, overrides.backedUp ?? backedUp),
        counter,
      );
      const clientDataJSON = clientData('webauthn.get', request.challenge, origin);
      const signed = Buffer.concat([authenticatorData, sha256(clientDataJSON)]);
      // node:crypto signs EC keys DER-encoded by default, which is what WebAuthn wants.
      const signature = sign('sha256', signed, credential.privateKey);
      const id = credential.id.toString('base64url');
      return {
        id,
        rawId: id,
        type: 'public-key',
        response: {
          clientDataJSON: clientDataJSON.toString('base64url'),
          authenticatorData: authenticatorData.toString('base64url'),
          signature: signature.toString('base64url'),
          userHandle: credential.userHandle,
        },
        authenticatorAttachment: 'platform',
        clientExtensionResults: {},
      };
    },
  };
}

/** The RP ID a browser defaults to: the origin's host, without the port. */
function hostOf(origin: string): string {
  return new URL(origin).hostname;
}

function sha256(data: Buffer | string): Buffer {
  return createHash('sha256').update(data).digest();
}

function flags(userVerified: boolean, backupEligible: boolean, backedUp: boolean): number {
  return UP | (userVerified ? UV : 0) | (backupEligible ? BE : 0) | (backedUp ? BS : 0);
}

/** rpIdHash (32) | flags (1) | signCount (4, big-endian): all of an assertion's authenticator data. */
function authenticatorDataHead(rpId: string, flagBits: number, counter: number): Buffer {
  const head = Buffer.alloc(37);
  sha256(rpId).copy(head, 0);
  head.writeUInt8(flagBits, 32);
  head.writeUInt32BE(counter, 33);
  return head;
}

function uint16(value: number): Buffer {
  const bytes = Buffer.alloc(2);
  bytes.writeUInt16BE(value);
  return bytes;
}

/** The client data, serialised in the specification's order (browsers write these keys first, in this order). */
function clientData(type: 'webauthn.create' | 'webauthn.get', challenge: string, origin: string): Buffer {
  return Buffer.from(JSON.stringify({ type, challenge, origin, crossOrigin: false }), 'utf8');
}

/** The credential public key as a COSE_Key (RFC 9053 §7.1.1): EC2, ES256, P-256, x, y. */
function coseKey(publicKey: KeyObject): Buffer {
  const { x, y } = publicKey.export({ format: 'jwk' });
  if (x === undefined || y === undefined) throw new Error('the EC public key has no coordinates');
  return cbor(
    new Map<number, CborValue>([
      [COSE_KTY, KTY_EC2],
      [COSE_ALG, ALG_ES256],
      [COSE_CRV, CRV_P256],
      [COSE_X, Buffer.from(x, 'base64url')],
      [COSE_Y, Buffer.from(y, 'base64url')],
    ]),
  );
}

/** What the encoder writes: as much of CBOR (RFC 8949) as an attestation object and a COSE key use. */
type CborValue = number | string | boolean | Uint8Array | readonly CborValue[] | ReadonlyMap<number | string, CborValue>;

/**
 * CBOR in the CTAP2 canonical form authenticators emit: shortest heads, definite lengths, map keys
 * sorted by their encoding (shorter first, then bytewise). Verifiers re-encode the COSE key they
 * decode and step over it by the re-encoding's length, so anything else would throw them off.
 */
function cbor(value: CborValue): Buffer {
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) throw new TypeError(`CBOR: only integers are encoded, not ${value}`);
    return value >= 0 ? cborHead(0, value) : cborHead(1, -1 - value);
  }
  if (typeof value === 'boolean') return Buffer.of(value ? 0xf5 : 0xf4);
  if (typeof value === 'string') {
    const bytes = Buffer.from(value, 'utf8');
    return Buffer.concat([cborHead(3, bytes.length), bytes]);
  }
  if (value instanceof Uint8Array) return Buffer.concat([cborHead(2, value.length), value]);
  if (value instanceof Map) {
    const entries = [...(value as ReadonlyMap<number | string, CborValue>)].map(([key, item]) => [cbor(key), cbor(item)] as const);
    entries.sort(([a], [b]) => a.length - b.length || Buffer.compare(a, b));
    return Buffer.concat([cborHead(5, entries.length), ...entries.flat()]);
  }
  const items = value as readonly CborValue[];
  return Buffer.concat([cborHead(4, items.length), ...items.map(cbor)]);
}

/** A major type with its argument in the fewest bytes. */
function cborHead(major: number, argument: number): Buffer {
  const type = major << 5;
  if (argument < 24) return Buffer.of(type | argument);
  if (argument <= 0xff) return Buffer.of(type | 24, argument);
  if (argument <= 0xffff) {
    const head = Buffer.alloc(3);
    head.writeUInt8(type | 25);
    head.writeUInt16BE(argument, 1);
    return head;
  }
  if (argument <= 0xffffffff) {
    const head = Buffer.alloc(5);
    head.writeUInt8(type | 26);
    head.writeUInt32BE(argument, 1);
    return head;
  }
  const head = Buffer.alloc(9);
  head.writeUInt8(type | 27);
  head.writeBigUInt64BE(BigInt(argument), 1);
  return head;
}
