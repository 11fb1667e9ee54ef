// Applies a mask to one value: the text a method shows, and the bytes a gateway sends in place of a wire value.
// Runs once per masked cell, so the wire path works on the bytes (no decode, no regex) wherever a method allows.
import { createHmac } from 'node:crypto';
import { isUtf8 } from 'node:buffer';
import type { MaskValueKind, ResolvedMask } from './masking.js';

/** What redact shows, and what every method falls back to when it cannot show less (short values, bad input). */
export const REDACTED = '****';

/** hash: `h:` and the first 24 hex digits (96 bits) of HMAC-SHA256(key, UTF-8 bytes of the value). */
export const HASH_PREFIX = 'h:';
const HASH_BYTES = 12;

/** partial: how many trailing characters stay visible when the policy names no `keep`. */
export const DEFAULT_KEEP = 4;

// Shared, precomputed replies: callers copy them into the message they build and never write into them.
const REDACTED_TEXT = Buffer.from(REDACTED, 'latin1');
const REDACTED_JSON = Buffer.from(JSON.stringify(REDACTED), 'latin1');
/** jsonb's binary format: a version byte (1, the only one PostgreSQL has written so far), then the JSON text. */
const JSONB_VERSION = 1;
const REDACTED_JSONB = Buffer.concat([Buffer.of(JSONB_VERSION), REDACTED_JSON]);
const AT = 0x40;

function hmac(key: Buffer, data: Buffer | string): string {
  return HASH_PREFIX + createHmac('sha256', key).update(data).digest().toString('hex', 0, HASH_BYTES);
}

/** The number of code points in a string, counting a surrogate pair once (a lone surrogate counts as one). */
function codePoints(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length - 1; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n--;
        i++;
      }
    }
  }
  return n;
}

/** partial on a string: `****` and the last `keep` code points, or `****` when the value has at most 2 × keep. */
function partialText(value: string, keep: number): string {
  // A code point is one or two UTF-16 units: length bounds the count from above, length / 2 from below.
  if (value.length <= 2 * keep) return REDACTED;
  if (value.length <= 4 * keep && codePoints(value) <= 2 * keep) return REDACTED;
  let start = value.length;
  for (let kept = 0; kept < keep; kept++) {
    start--;
    const c = value.charCodeAt(start);
    if (c >= 0xdc00 && c <= 0xdfff && start > 0) {
      const h = value.charCodeAt(start - 1);
      if (h >= 0xd800 && h <= 0xdbff) start--;
    }
  }
  return REDACTED + value.slice(start);
}

/** The text a method shows for a value's text; null: SQL NULL. */
export function maskText(value: string, mask: ResolvedMask): string | null {
  switch (mask.method) {
    case 'null':
      return null;
    case 'email': {
      const at = value.lastIndexOf('@');
      return at < 0 ? REDACTED : REDACTED + value.slice(at);
    }
    case 'partial':
      return partialText(value, mask.keep > 0 ? mask.keep : DEFAULT_KEEP);
    case 'hash':
      // No key is a bug upstream (the planner reads every key): fail closed rather than hash with a guessable one.
      return mask.key ? hmac(mask.key, Buffer.from(value, 'utf8')) : REDACTED;
    default:
      return REDACTED;
  }
}

/** partial on UTF-8 bytes (already checked valid): as partialText, counting code points by their lead bytes. */
function partialBytes(value: Buffer, keep: number): Buffer {
  // A code point is one to four bytes.
  if (value.length <= 2 * keep) return REDACTED_TEXT;
  if (value.length <= 8 * keep) {
    let n = 0;
    for (let i = 0; i < value.length; i++) if ((value[i]! & 0xc0) !== 0x80) n++;
    if (n <= 2 * keep) return REDACTED_TEXT;
  }
  let start = value.length;
  for (let kept = 0; kept < keep; kept++) {
    start--;
    while (start > 0 && (value[start]! & 0xc0) === 0x80) start--;
  }
  return Buffer.concat([REDACTED_TEXT, value.subarray(start)]);
}

/** A text value's bytes (UTF-8) → the masked bytes; invalid UTF-8 is redacted (method null still gives NULL). */
function maskTextBytes(value: Buffer, mask: ResolvedMask): Buffer | null {
  if (mask.method === 'null') return null;
  if (mask.method === 'redact' || !isUtf8(value)) return REDACTED_TEXT;
  switch (mask.method) {
    case 'email': {
      const at = value.lastIndexOf(AT);
      return at < 0 ? REDACTED_TEXT : Buffer.concat([REDACTED_TEXT, value.subarray(at)]);
    }
    case 'partial':
      return partialBytes(value, mask.keep > 0 ? mask.keep : DEFAULT_KEEP);
    case 'hash':
      return mask.key ? Buffer.from(hmac(mask.key, value), 'latin1') : REDACTED_TEXT;
    default:
      return REDACTED_TEXT;
  }
}

/**
 * A JSON document's text → the masked JSON text: always a JSON string literal, so the column stays valid JSON.
 * A document that is one JSON string is masked as that string (`"alice@example.com"` → `"****@example.com"`, and
 * hash gives what a text column holding alice@example.com gives, so joins across the two still work). Any other
 * document (object, array, number) is redacted by email and partial, whose "keep the end" would show its structure,
 * and hashed over its text by hash.
 */
function maskJsonBytes(body: Buffer, mask: ResolvedMask): Buffer | null {
  if (mask.method === 'null') return null;
  if (mask.method === 'redact' || !isUtf8(body)) return REDACTED_JSON;
  const text = body.toString('utf8');
  let i = 0;
  while (i < text.length && (text[i] === ' ' || text[i] === '\t' || text[i] === '\n' || text[i] === '\r')) i++;
  let value: string | null = null;
  if (text[i] === '"') {
    try {
      const parsed: unknown = JSON.parse(text);
      if (typeof parsed === 'string') value = parsed;
    } catch {
      return REDACTED_JSON;
    }
  }
  if (value === null && mask.method !== 'hash') return REDACTED_JSON;
  const masked = maskText(value ?? text, mask);
  return masked === null ? null : Buffer.from(JSON.stringify(masked), 'utf8');
}

/**
 * One result value as the wire carries it (PostgreSQL text or binary format; MySQL text or binary protocol strings
 * are `binary: false`) → the bytes to send instead, or null for SQL NULL. Kind `other` (numbers, dates, arrays…)
 * becomes NULL whatever the method, since no masked text is a valid value of those types.
 * The returned buffer may be shared between calls: copy it, never write into it.
 */
export function maskWireValue(value: Buffer, kind: MaskValueKind, binary: boolean, mask: ResolvedMask): Buffer | null {
  switch (kind) {
    case 'text':
      // text, varchar, bpchar, name, citext…: the binary format is the same UTF-8 bytes as the text format.
      return maskTextBytes(value, mask);
    case 'json':
      // json's binary format is its text.
      return maskJsonBytes(value, mask);
    case 'jsonb': {
      if (!binary) return maskJsonBytes(value, mask);
      if (mask.method === 'null') return null;
      // A version this code does not know may not hold JSON text: show nothing of it.
      if (value.length === 0 || value[0] !== JSONB_VERSION) return REDACTED_JSONB;
      const out = maskJsonBytes(value.subarray(1), mask);
      if (out === null) return null;
      return out === REDACTED_JSON ? REDACTED_JSONB : Buffer.concat([Buffer.of(JSONB_VERSION), out]);
    }
    default:
      return null;
  }
}

/** maskedTail's answer: the value becomes `****` alone. */
export const TAIL_NONE = -1;
/** maskedTail's answer: no fast path for this value; call maskWireValue. */
export const TAIL_SLOW = -2;

/**
 * The fast path of maskWireValue for a text value that is all ASCII (the usual e-mail address, phone or card
 * number), read in place: for redact, email and partial the masked value is always `****` followed by the value's
 * last bytes, so this returns where that tail starts in `buf` (the tail runs to `end`), TAIL_NONE for `****` alone,
 * or TAIL_SLOW where maskWireValue must decide (another kind or method, a byte over 0x7f). Same result as
 * maskWireValue, without a view, a copy or a call into C++ per value.
 */
export function maskedTail(buf: Buffer, start: number, end: number, kind: MaskValueKind, mask: ResolvedMask): number {
  if (kind !== 'text') return TAIL_SLOW;
  const method = mask.method;
  if (method === 'redact') return TAIL_NONE;
  if (method === 'email') {
    let at = -1;
    for (let i = end - 1; i >= start; i--) {
      const c = buf[i]!;
      if (c > 0x7f) return TAIL_SLOW;
      if (c === AT && at < 0) at = i;
    }
    return at < 0 ? TAIL_NONE : at;
  }
  if (method === 'partial') {
    for (let i = start; i < end; i++) if (buf[i]! > 0x7f) return TAIL_SLOW;
    const keep = mask.keep > 0 ? mask.keep : DEFAULT_KEEP;
    // ASCII: one byte, one code point.
    return end - start <= 2 * keep ? TAIL_NONE : end - keep;
  }
  return TAIL_SLOW;
}
