/** Where mails go: an SMTP server (nodemailer), or, with none configured, .eml files in DATA_DIR/mail. */
import { randomUUID } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import nodemailer from 'nodemailer';
import { type Clock, systemClock } from './clock.js';
import type { Logger } from './logger.js';

export interface OutgoingMail {
  to: string;
  subject: string;
  text: string;
  html: string | undefined;
}

export interface MailTransport {
  readonly kind: 'smtp' | 'file';
  send(mail: OutgoingMail): Promise<void>;
  close(): void;
}

export function createSmtpTransport(url: string, from: string): MailTransport {
  // No pooling: each attempt opens its own connection, so a server that comes back is used at once.
  const transporter = nodemailer.createTransport(url, { from });
  return {
    kind: 'smtp',
    async send(mail) {
      // nodemailer encodes every header itself; no value reaches a header unencoded.
      await transporter.sendMail({ from, to: mail.to, subject: mail.subject, text: mail.text, ...(mail.html && { html: mail.html }) });
    },
    close: () => transporter.close(),
  };
}

/** RFC 5322's limit on a line, in octets, CRLF excluded. */
const MAX_LINE_OCTETS = 998;

/**
 * A part a person can read in the .eml file itself: 8-bit UTF-8, so that a link stays one line
 * (quoted-printable would split it with soft breaks and turn `=` into `=3D`). A body with a line
 * too long for 8-bit is left to nodemailer's own choice of encoding.
 */
function readablePart(type: 'text/plain' | 'text/html', body: string): string | { raw: string } {
  const normalized = body.replace(/\r\n?/g, '\n');
  if (normalized.split('\n').some((line) => Buffer.byteLength(line, 'utf8') > MAX_LINE_OCTETS)) return body;
  return { raw: `Content-Type: ${type}; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n${normalized}` };
}

/**
 * The embedded default: each mail becomes an .eml file a developer can open. The log names the
 * file, never the link: links carry tokens, and tokens never appear in logs. Parts are 8-bit
 * (readablePart), so that `cat` shows each link whole. Files are named by
 * `clock`'s time of writing, so that a directory listing is in order.
 */
export function createFileTransport(directory: string, from: string, logger: Logger, clock: Clock = systemClock): MailTransport {
  const renderer = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'unix' });
  return {
    kind: 'file',
    async send(mail) {
      const info = await renderer.sendMail({
        from,
        to: mail.to,
        subject: mail.subject,
        text: readablePart('text/plain', mail.text),
        ...(mail.html && { html: readablePart('text/html', mail.html) }),
      });
      const message = info.message;
      if (!Buffer.isBuffer(message)) throw new Error('nodemailer produced no message');
      await mkdir(directory, { recursive: true, mode: 0o700 });
      const file = join(directory, `${clock.now().toISOString().replace(/[:.]/g, '-')}-${randomUUID().slice(0, 8)}.eml`);
      await writeFile(file, message, { mode: 0o600 });
      logger.info({ to: mail.to, subject: mail.subject, file }, 'mail written (no SMTP_URL): open the file for its link');
    },
    close: () => renderer.close(),
  };
}
