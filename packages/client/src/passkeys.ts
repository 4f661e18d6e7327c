import { browserSupportsWebAuthn } from '@simplewebauthn/browser';

/**
 * Raised by the passkey methods where WebAuthn is not available: in Node, or in a browser without
 * `PublicKeyCredential` (an old one, or a page that is not a secure context: https, or
 * http://localhost). Nothing is sent to the server first.
 */
export class WebAuthnUnavailableError extends Error {
  override name = 'WebAuthnUnavailableError';
  constructor(
    message = 'Passkeys need WebAuthn, which is not available here: run this in a browser, on a secure context (https, or http://localhost)',
  ) {
    super(message);
  }
}

/** Throws WebAuthnUnavailableError unless this environment has WebAuthn. */
export function requireWebAuthn(): void {
  if (!browserSupportsWebAuthn()) throw new WebAuthnUnavailableError();
}
