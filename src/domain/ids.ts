// Identifiers: a short type prefix plus random base32, readable in logs and safe in database role names.
import { randomBytes } from 'node:crypto';

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567';

export function randomBase32(chars: number): string {
  const bytes = randomBytes(chars);
  let out = '';
  for (let i = 0; i < chars; i++) out += ALPHABET[bytes[i]! & 31];
  return out;
}

export type IdPrefix = 'req' | 'rev' | 'grt' | 'lck' | 'tok' | 'ses' | 'mcp';

export function newId(prefix: IdPrefix): string {
  return `${prefix}_${randomBase32(16)}`;
}

/** The first characters of an id's random part: enough to tell grants apart in a database role name. */
export function shortId(id: string, chars = 8): string {
  const i = id.indexOf('_');
  return id.slice(i + 1, i + 1 + chars);
}
