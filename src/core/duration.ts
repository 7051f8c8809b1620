/**
 * Durations as operators write them on the command line: `90s`, `30m`, `1h`, `7d` (or plain seconds).
 * Returns seconds, or null when the text is not one.
 */
const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3_600, d: 86_400 };

export function parseDuration(text: string): number | null {
  const m = /^(\d+)([smhd]?)$/.exec(text.trim());
  if (!m) return null;
  const seconds = Number(m[1]) * (UNIT_SECONDS[m[2] || 's'] ?? 1);
  return seconds > 0 ? seconds : null;
}
