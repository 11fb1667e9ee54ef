// Durations as people type them ("30m", "1h30m", "2d") and back.

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };
const DURATION_RE = /^(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/;

/** Parses "90s", "30m", "1h30m", "2d" into seconds; returns undefined when the text is not a duration. */
export function parseDuration(text: string): number | undefined {
  const t = text.trim().toLowerCase();
  if (t === '' ) return undefined;
  if (/^\d+$/.test(t)) return undefined; // a bare number is ambiguous: ask for a unit
  const m = DURATION_RE.exec(t);
  if (!m) return undefined;
  const units = ['w', 'd', 'h', 'm', 's'];
  let total = 0;
  for (let i = 0; i < units.length; i++) {
    const v = m[i + 1];
    if (v !== undefined) total += Number(v) * UNIT_SECONDS[units[i]!]!;
  }
  return Number.isSafeInteger(total) ? total : undefined;
}

export function formatDuration(seconds: number): string {
  if (seconds <= 0) return '0s';
  const parts: string[] = [];
  let rest = Math.floor(seconds);
  for (const [u, s] of [['d', 86400], ['h', 3600], ['m', 60], ['s', 1]] as const) {
    if (rest >= s) {
      parts.push(`${Math.floor(rest / s)}${u}`);
      rest %= s;
    }
  }
  return parts.join('');
}
