/**
 * Every mail Latchkey sends: one template each, rendered to plain text and HTML. Values that come
 * from users (the username) are escaped in HTML and never reach a header: subjects are fixed and
 * the recipient is an address validated at registration.
 */
import { html } from '../../lib/html.js';

export type MailKind =
  | 'verify_email'
  | 'reset_password'
  | 'password_changed'
  | 'email_change_new'
  | 'email_change_current'
  | 'email_changed'
  | 'account_disabled'
  | 'account_enabled'
  | 'mfa_enabled'
  | 'mfa_removed'
  | 'recovery_code_used'
  | 'recovery_codes_regenerated'
  | 'passkey_added'
  | 'passkey_removed';

export interface RenderedMail {
  subject: string;
  text: string;
  html: string;
}

interface Template {
  subject: string;
  paragraphs: (vars: MailVars) => string[];
  action?: (vars: MailVars) => { label: string; url: string };
}

export interface MailVars {
  username: string;
  link?: string;
  validFor?: string;
  /** The address an email change moves the account to. */
  newEmail?: string;
  /** Recovery codes left unused. */
  remaining?: number;
}

const TEMPLATES: Record<MailKind, Template> = {
  verify_email: {
    subject: 'Confirm your email address',
    paragraphs: (v) => [`Hello ${v.username},`, `Please confirm that this is your email address. The link is valid for ${v.validFor}.`],
    action: (v) => ({ label: 'Confirm my address', url: v.link ?? '' }),
  },
  reset_password: {
    subject: 'Reset your password',
    paragraphs: (v) => [
      `Hello ${v.username},`,
      `Someone asked to reset the password of your account. If it was you, choose a new password within ${v.validFor}. If not, ignore this mail: your password stays as it is.`,
    ],
    action: (v) => ({ label: 'Choose a new password', url: v.link ?? '' }),
  },
  password_changed: {
    subject: 'Your password was changed',
    paragraphs: (v) => [
      `Hello ${v.username},`,
      'The password of your account was just changed, and the other sessions were signed out. If this was not you, reset your password at once and contact us.',
    ],
  },
  email_change_new: {
    subject: 'Confirm your new email address',
    paragraphs: (v) => [
      `Hello ${v.username},`,
      `Please confirm that this address is to become the sign-in address of your account. The link is valid for ${v.validFor}. Until the change is complete, you still sign in with your current address.`,
    ],
    action: (v) => ({ label: 'Confirm the new address', url: v.link ?? '' }),
  },
  email_change_current: {
    subject: 'Confirm the change of your email address',
    paragraphs: (v) => [
      `Hello ${v.username},`,
      `Someone signed in to your account asked to change its address to ${v.newEmail}. If it was you, confirm it within ${v.validFor}; the change needs this confirmation too. If it was not you, do not click: reset your password instead, which also cancels the change.`,
    ],
    action: (v) => ({ label: 'Confirm the change', url: v.link ?? '' }),
  },
  email_changed: {
    subject: 'Your email address was changed',
    paragraphs: (v) => [
      `Hello ${v.username},`,
      `The sign-in address of your account was changed from this address to ${v.newEmail}. If this was not you, contact us at once.`,
    ],
  },
  account_disabled: {
    subject: 'Your account was disabled',
    paragraphs: (v) => [
      `Hello ${v.username},`,
      'An administrator disabled your account: every session was signed out, and signing in is refused until it is enabled again. If you think this is a mistake, contact us.',
    ],
  },
  account_enabled: {
    subject: 'Your account was enabled again',
    paragraphs: (v) => [
      `Hello ${v.username},`,
      'An administrator enabled your account again: you can sign in with your password. The sessions that were signed out stay signed out.',
    ],
  },
  mfa_enabled: {
    subject: 'Two-step sign-in is on',
    paragraphs: (v) => [
      `Hello ${v.username},`,
      'An authenticator app was added to your account: signing in now asks for its code after your password. If this was not you, reset your password and contact us at once.',
    ],
  },
  passkey_added: {
    subject: 'A passkey was added to your account',
    paragraphs: (v) => [
      `Hello ${v.username},`,
      'A passkey was added to your account: it signs you in on its own, and signing in with your password now asks for it (or your authenticator app) as a second step. If this was not you, remove it from your account, reset your password and contact us at once.',
    ],
  },
  passkey_removed: {
    subject: 'A passkey was removed from your account',
    paragraphs: (v) => [
      `Hello ${v.username},`,
      'A passkey was removed from your account and no longer signs you in. If this was not you, reset your password and contact us at once.',
    ],
  },
  mfa_removed: {
    subject: 'Two-step sign-in was turned off',
    paragraphs: (v) => [
      `Hello ${v.username},`,
      'The authenticator app of your account was removed: signing in no longer asks for a code. If this was not you, reset your password and contact us at once.',
    ],
  },
  recovery_code_used: {
    subject: 'A recovery code was used',
    paragraphs: (v) => [
      `Hello ${v.username},`,
      `One of your recovery codes was just used to confirm a sign-in to your account; ${v.remaining} unused codes are left. If this was not you, reset your password and create new recovery codes at once.`,
    ],
  },
  recovery_codes_regenerated: {
    subject: 'Your recovery codes were replaced',
    paragraphs: (v) => [
      `Hello ${v.username},`,
      'New recovery codes were created for your account: the old ones no longer work. If this was not you, reset your password and contact us at once.',
    ],
  },
};

export function renderMail(kind: MailKind, vars: MailVars): RenderedMail {
  const template = TEMPLATES[kind];
  const paragraphs = template.paragraphs(vars);
  const action = template.action?.(vars);
  const text = [...paragraphs, ...(action ? [`${action.label}: ${action.url}`] : [])].join('\n\n');
  const lines = [
    html`<!doctype html><html><body style="font-family: sans-serif; line-height: 1.5">`,
    ...paragraphs.map((p) => html`<p>${p}</p>`),
    ...(action ? [html`<p><a href="${action.url}">${action.label}</a></p>`] : []),
    html`</body></html>`,
  ];
  return { subject: template.subject, text: `${text}\n`, html: lines.join('\n') };
}
