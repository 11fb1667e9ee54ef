// Presentation of access reports that every front-end shares: RFC 4180 CSV fields and times written in a named zone.
import { AirlockError } from './errors.js';

/**
 * One CSV field per RFC 4180: quoted when it holds a comma, a quote, CR or LF, with quotes inside doubled. Text that a
 * spreadsheet would run as a formula (starting with = + - @ TAB or CR: requesters write reasons and tickets) gets a
 * leading ' first, as OWASP advises; numbers are numbers and pass as they are.
 */
export function csvField(v: string | number | boolean | null | undefined): string {
  if (v === null || v === undefined) return '';
  const s = typeof v === 'string' && /^[=+\-@\t\r]/.test(v) ? `'${v}` : String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** One CSV record with its CRLF line end (RFC 4180 §2.1). */
export function csvRecord(fields: readonly (string | number | boolean | null | undefined)[]): string {
  return `${fields.map(csvField).join(',')}\r\n`;
}

/**
 * The zone as the caller named it, once Intl knows it ("UTC", "Europe/Berlin"); AIRLOCK_BAD_INPUT otherwise. The name
 * given is kept: ICU would rename some (Asia/Kolkata to Asia/Calcutta), and the reader should see the one they asked for.
 */
export function checkZone(zone: string): string {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return zone;
  } catch {
    throw new AirlockError('AIRLOCK_BAD_INPUT', `"${zone}" is not a time zone; name one such as UTC or Europe/Berlin (IANA names).`);
  }
}

const formatters = new Map<string, Intl.DateTimeFormat>();

/** "2026-03-02 11:00:00" in `zone` (24-hour clock); the zone itself is named once, in a header or a column name. */
export function zonedTime(isoTime: string | null, zone: string): string {
  if (!isoTime) return '';
  let f = formatters.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-CA', { timeZone: zone, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' });
    formatters.set(zone, f);
  }
  const p = Object.fromEntries(f.formatToParts(new Date(isoTime)).map((x) => [x.type, x.value]));
  return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}:${p.second}`;
}

/** Hours with two decimals, as reports show them. */
export const hours = (seconds: number): number => Math.round((seconds / 3600) * 100) / 100;
