// Times and durations as the console shows them: absolute in the viewer's zone, relative hints and countdowns.

const UNIT_SECONDS: Record<string, number> = { w: 604800, d: 86400, h: 3600, m: 60, s: 1 };
const DURATION_RE = /^(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/;

/** "90s", "30m", "1h30m", "2d" → seconds; undefined for anything else (a bare number has no unit). */
export function parseDuration(text: string): number | undefined {
  const t = text.trim().toLowerCase().replace(/\s+/g, '');
  if (t === '' || /^\d+$/.test(t)) return undefined;
  const m = DURATION_RE.exec(t);
  if (!m) return undefined;
  let total = 0;
  ['w', 'd', 'h', 'm', 's'].forEach((u, i) => {
    const v = m[i + 1];
    if (v !== undefined) total += Number(v) * UNIT_SECONDS[u]!;
  });
  return Number.isSafeInteger(total) && total > 0 ? total : undefined;
}

/** 5400 → "1h30m"; 0 → "0s". */
export function formatDuration(seconds: number): string {
  let rest = Math.floor(seconds);
  if (rest <= 0) return '0s';
  const parts: string[] = [];
  for (const [u, s] of [['d', 86400], ['h', 3600], ['m', 60], ['s', 1]] as const) {
    if (rest >= s) {
      parts.push(`${Math.floor(rest / s)}${u}`);
      rest %= s;
    }
  }
  return parts.join('');
}

/** "2026-03-02 10:31:00 CET": the viewer's zone unless one is given. */
export function formatTime(d: Date, timeZone?: string): string {
  const parts = new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23', timeZoneName: 'short' }).formatToParts(d);
  const g = (t: Intl.DateTimeFormatPartTypes) => parts.find((p) => p.type === t)?.value ?? '';
  return `${g('year')}-${g('month')}-${g('day')} ${g('hour')}:${g('minute')}:${g('second')} ${g('timeZoneName')}`;
}

/** "17:43:28 CET": the time of day with its zone (the viewer's unless one is given), for things that began today. */
export function formatClock(d: Date, timeZone?: string): string {
  return formatTime(d, timeZone).split(' ').slice(1).join(' ');
}

/** The zone times are shown in: "CET (Europe/Berlin)", or just the abbreviation when the browser names no zone. */
export function zoneName(at: Date = new Date(), timeZone?: string): string {
  const abbr = formatTime(at, timeZone).split(' ')[2] ?? '';
  const iana = timeZone ?? Intl.DateTimeFormat().resolvedOptions().timeZone;
  return iana && iana !== abbr ? `${abbr} (${iana})` : abbr;
}

/** "2026-03-02 10:31" in the viewer's zone: what the console's time fields hold. */
export function toTimeInput(d: Date): string {
  return formatTime(d).slice(0, 16);
}

/** A time field's "2026-03-02 10:31" (seconds optional, "T" accepted) in the viewer's zone → ISO UTC; undefined when empty or not such a time. */
export function timeInputToIso(value: string): string | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2})(?::(\d{2}))?$/.exec(value.trim());
  if (!m) return undefined;
  const [y, mo, d, h, mi, s] = m.slice(1).map((x) => Number(x ?? 0)) as [number, number, number, number, number, number];
  const date = new Date(y, mo - 1, d, h, mi, s);
  // new Date rolls 2026-02-30 over to March: refuse instead of guessing.
  if (Number.isNaN(date.getTime()) || date.getMonth() !== mo - 1 || date.getDate() !== d || date.getHours() !== h) return undefined;
  return date.toISOString();
}

/** A coarse relative hint: "in 29m", "3m ago", "just now". */
export function relative(ms: number): string {
  const s = Math.round(Math.abs(ms) / 1000);
  if (s < 5) return 'just now';
  // Rounded to the nearest unit shown, so "in 3m" sits next to a "2:59 left" countdown.
  let text: string;
  if (s < 60) text = `${s}s`;
  else if (s < 3570) text = `${Math.round(s / 60)}m`;
  else if (s < 86400 - 30) {
    const m = Math.round(s / 60);
    text = `${Math.floor(m / 60)}h${m % 60 ? `${m % 60}m` : ''}`;
  } else {
    const h = Math.round(s / 3600);
    text = `${Math.floor(h / 24)}d${h % 24 ? `${h % 24}h` : ''}`;
  }
  return ms >= 0 ? `in ${text}` : `${text} ago`;
}

/** A countdown to the second: "1:02:03", "4:05", "0:09"; "0:00" once past. */
export function countdown(ms: number): string {
  const total = Math.max(0, Math.ceil(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const pad = (n: number) => String(n).padStart(2, '0');
  return h > 0 ? `${h}:${pad(m)}:${pad(s)}` : `${m}:${pad(s)}`;
}

/** "1.2 s", "35 ms", "0.4 ms" for statement durations. */
export function formatMs(ms: number | null): string {
  if (ms === null) return '–';
  if (ms >= 1000) return `${(ms / 1000).toFixed(ms >= 10_000 ? 0 : 1)} s`;
  if (ms >= 10) return `${Math.round(ms)} ms`;
  return `${ms.toFixed(1)} ms`;
}

export const WORKING_HOURS = { days: [1, 2, 3, 4, 5], from: 8, to: 18 } as const;

/** Monday to Friday, 08:00 to 18:00 in the given zone (the viewer's by default). */
export function isWorkingHours(d: Date, timeZone?: string): boolean {
  const parts = new Intl.DateTimeFormat('en-US', { timeZone, weekday: 'short', hour: '2-digit', hourCycle: 'h23' }).formatToParts(d);
  const day = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'].indexOf(parts.find((p) => p.type === 'weekday')?.value ?? '');
  const hour = Number(parts.find((p) => p.type === 'hour')?.value ?? 0);
  return (WORKING_HOURS.days as readonly number[]).includes(day) && hour >= WORKING_HOURS.from && hour < WORKING_HOURS.to;
}
