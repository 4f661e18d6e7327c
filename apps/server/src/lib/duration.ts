const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };

/**
 * Parses the contract's duration format: `30s`, `15m`, `1h`, `7d`, or a bare number of seconds.
 * Returns whole seconds, or `undefined` when the text is not a positive duration.
 */
export function parseDuration(text: string): number | undefined {
  const match = /^\s*(\d{1,9})\s*([smhd]?)\s*$/.exec(text);
  if (!match) return undefined;
  const amount = Number(match[1]);
  const seconds = amount * (UNIT_SECONDS[match[2] || 's'] ?? 1);
  return seconds > 0 && Number.isSafeInteger(seconds) ? seconds : undefined;
}
