import { SMTPServer } from 'smtp-server';

export interface ReceivedMail {
  to: string[];
  /** The message as received, with quoted-printable soft breaks and escapes undone. */
  body: string;
  links: string[];
}

export interface SmtpSink {
  port: number;
  url: string;
  received: ReceivedMail[];
  stop(): Promise<void>;
  /** Starts again on the same port (after stop), as a mail server coming back would. */
  restart(): Promise<void>;
}

function decodeQuotedPrintable(text: string): string {
  return text.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/g, (_, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)));
}

/** A real SMTP server in the test process that keeps what it receives. */
export async function startSmtpSink(port = 0): Promise<SmtpSink> {
  const received: ReceivedMail[] = [];
  let server: SMTPServer;
  const listen = (onPort: number) =>
    new Promise<number>((resolve, reject) => {
      server = new SMTPServer({
        authOptional: true,
        disabledCommands: ['STARTTLS', 'AUTH'],
        logger: false,
        onData(stream, session, callback) {
          let raw = '';
          stream.setEncoding('utf8');
          stream.on('data', (chunk: string) => {
            raw += chunk;
          });
          stream.on('end', () => {
            const body = decodeQuotedPrintable(raw);
            received.push({ to: session.envelope.rcptTo.map((r) => r.address), body, links: body.match(/https?:\/\/[^\s"<>]+/g) ?? [] });
            callback();
          });
        },
      });
      server.once('error', reject);
      server.listen(onPort, '127.0.0.1', () => {
        const address = server.server.address();
        resolve(typeof address === 'object' && address ? address.port : onPort);
      });
    });
  const actual = await listen(port);
  const sink: SmtpSink = {
    port: actual,
    url: `smtp://127.0.0.1:${actual}`,
    received,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
    async restart() {
      await listen(actual);
    },
  };
  return sink;
}
