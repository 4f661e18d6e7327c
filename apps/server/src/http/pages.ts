/**
 * The two pages mailed links open. Tokens never appear as text on a page, in a log line (only
 * paths are logged) or in a Referer (`Referrer-Policy: no-referrer`); the verification form holds
 * its token in a hidden field of a page nobody caches (`no-store`). The reset link carries its
 * token in the fragment, which the browser never sends to any server; the page's script reads
 * it, removes it from the address bar, and posts it with the new password. The verification link
 * consumes nothing when it is opened (mail scanners and link previews follow links): it shows a
 * button that posts the token back in a same-origin form.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { AppError } from '../lib/errors.js';
import { type Html, html } from '../lib/html.js';
import { type Runtime, requestInfo } from '../trpc/context.js';
import { BodyError, readFormBody } from './respond.js';

/** A script nonce, and `formAction: 'self'` for the one page whose form submits (the verification button); elsewhere `form-action 'none'`. */
type PageOptions = { nonce?: string; formAction?: 'self' };

function page(res: ServerResponse, status: number, title: string, body: Html, options: PageOptions = {}): void {
  const { nonce, formAction } = options;
  const markup = html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title}</title>
<style>body{font-family:system-ui,sans-serif;max-width:28rem;margin:4rem auto;padding:0 1rem;line-height:1.5}input,button{font:inherit;padding:.4rem;width:100%;box-sizing:border-box;margin:.3rem 0}</style>
</head><body>
<h1>${title}</h1>
${body}
</body></html>`.toString();
  res.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    'content-length': Buffer.byteLength(markup),
    'cache-control': 'no-store',
    'referrer-policy': 'no-referrer',
    'x-frame-options': 'DENY',
    'x-content-type-options': 'nosniff',
    'content-security-policy': `default-src 'none'; style-src 'unsafe-inline'; connect-src 'self'; form-action ${formAction === 'self' ? "'self'" : "'none'"}; frame-ancestors 'none'; base-uri 'none'${nonce ? `; script-src 'nonce-${nonce}'` : ''}`,
  });
  res.end(markup);
}

/** The most a verification form body can hold: one token field (tokens are at most 256 characters). */
const VERIFY_FORM_MAX_BYTES = 2_048;

/** GET /verify-email?token=...: a button that posts the token; opening the link alone uses nothing. */
export function verifyEmailFormPage(url: URL, res: ServerResponse): void {
  const token = url.searchParams.get('token') ?? '';
  if (token === '') {
    page(res, 404, 'This link does not work', html`<p>It is incomplete: open the one from the mail again.</p>`);
    return;
  }
  const body = html`<p>Press the button to confirm your address.</p>
<form method="post" action="/verify-email"><input type="hidden" name="token" value="${token}">
<button type="submit">Confirm my address</button></form>`;
  page(res, 200, 'Confirm your address', body, { formAction: 'self' });
}

/** POST /verify-email (the form above): confirms the address and says so, or why not. */
export async function verifyEmailPage(runtime: Runtime, req: IncomingMessage, res: ServerResponse, requestId: string): Promise<void> {
  let token: string;
  try {
    token = (await readFormBody(req, VERIFY_FORM_MAX_BYTES)).get('token') ?? '';
  } catch (error) {
    if (!(error instanceof BodyError)) throw error;
    // The rest of a refused body is left unread: this connection cannot carry another request.
    res.setHeader('connection', 'close');
    if (error.failure === 'too_large') page(res, 413, 'This request is too large', html`<p>Open the link from the mail again.</p>`);
    else page(res, 415, 'This request is not a form', html`<p>Open the link from the mail again.</p>`);
    return;
  }
  try {
    const { user } = await runtime.services.accounts.verifyEmail(token, requestInfo(req, runtime.config.trustProxy, requestId));
    page(res, 200, 'Address confirmed', html`<p>Thank you: ${user.email} is confirmed. You can close this page.</p>`);
  } catch (error) {
    if (!(error instanceof AppError)) throw error;
    if (error.appCode === 'RATE_LIMITED') {
      res.setHeader('retry-after', String(error.retryAfterSeconds ?? 60));
      page(res, 429, 'Too many attempts', html`<p>Too many links were tried from your network. Try again later.</p>`);
    } else if (error.appCode === 'TOKEN_EXPIRED') {
      page(res, 410, 'This link has expired', html`<p>Sign in and ask for a new confirmation mail.</p>`);
    } else {
      page(
        res,
        404,
        'This link does not work',
        html`<p>It was already used, or it is not a link we sent. If your address is not confirmed yet, sign in and ask for a new mail.</p>`,
      );
    }
  }
}

/** GET /reset-password: a form that reads the token from the fragment and calls the API. */
export function resetPasswordPage(res: ServerResponse): void {
  const nonce = randomBytes(16).toString('base64');
  const body = html`<form id="reset"><label for="password">New password (at least 8 characters)</label>
<input id="password" type="password" autocomplete="new-password" minlength="8" maxlength="256" required>
<button type="submit">Set my new password</button></form>
<p id="result" role="status"></p>
<script nonce="${nonce}">
const token = new URLSearchParams(location.hash.slice(1)).get('token');
history.replaceState(null, '', location.pathname);
const form = document.getElementById('reset');
const result = document.getElementById('result');
if (!token) { form.hidden = true; result.textContent = 'This link is incomplete: open the one from the mail again.'; }
form.addEventListener('submit', async (event) => {
  event.preventDefault();
  const newPassword = document.getElementById('password').value;
  const response = await fetch('/trpc/auth.resetPassword', { method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ json: { token, newPassword } }) }).catch(() => null);
  const data = response ? await response.json().catch(() => null) : null;
  const error = data && data.error ? data.error.json : null;
  if (response && response.ok) { form.hidden = true; result.textContent = 'Your password is changed and every session was signed out. You can sign in with the new one.'; }
  else if (error && error.data && error.data.fields && error.data.fields.newPassword) { result.textContent = 'Password ' + error.data.fields.newPassword.join(', ') + '.'; }
  else if (error && error.data && error.data.appCode === 'TOKEN_EXPIRED') { form.hidden = true; result.textContent = 'This link has expired: ask for a new one.'; }
  else if (error && error.data && error.data.appCode === 'TOKEN_INVALID') { form.hidden = true; result.textContent = 'This link was already used or is not valid: ask for a new one.'; }
  else { result.textContent = 'Something went wrong; please try again.'; }
});
</script>`;
  page(res, 200, 'Choose a new password', body, { nonce });
}

/**
 * GET /auth/oidc/{provider}/start and /callback: external sign-in's browser steps. Each answers a
 * 302 (to the provider, or back to the app's redirect_to with `#code=` or `#error=`), or a page
 * of its own when the request names no allowed place to send the browser back to. The one-time
 * code travels in the fragment, which no server receives; the URLs are never logged with their
 * query (only paths are).
 */
export async function oidcPage(
  runtime: Runtime,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  requestId: string,
  step: { provider: string; kind: 'start' | 'callback' },
): Promise<void> {
  // GET only: each request starts or ends a flow (a HEAD of a link checker must not).
  if (req.method !== 'GET') {
    res.writeHead(405, { allow: 'GET', 'content-type': 'text/plain; charset=utf-8' });
    res.end('method not allowed');
    return;
  }
  const client = requestInfo(req, runtime.config.trustProxy, requestId);
  const identities = runtime.services.identities;
  const single = (name: string) => {
    const values = url.searchParams.getAll(name);
    return values.length === 1 ? values[0] : undefined;
  };
  const answer =
    step.kind === 'start'
      ? url.searchParams.getAll('redirect_to').length > 1 || url.searchParams.getAll('link').length > 1
        ? ({ kind: 'page', status: 400, message: 'Give redirect_to and link at most once each.' } as const)
        : await identities.start(step.provider, { redirectTo: single('redirect_to'), link: single('link') }, client)
      : await identities.callback(step.provider, url, req.headers.cookie, client);
  if (answer.kind === 'page') {
    page(res, answer.status, answer.status === 404 ? 'Not found' : 'Sign-in failed', html`<p>${answer.message}</p>`);
    return;
  }
  res.writeHead(302, {
    location: answer.location,
    'cache-control': 'no-store',
    'referrer-policy': 'no-referrer',
    ...(answer.cookie && { 'set-cookie': answer.cookie }),
  });
  res.end();
}
