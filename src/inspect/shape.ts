// The literal-free shape of a statement text, so texts that differ only in constants (pgbench's `WHERE aid = 123`,
// an ORM's inlined ids) share one analysis. The lexer is strict on purpose: anything it does not fully understand
// (comments, E'' or dollar quoting, backslashes, non-ASCII, numbers glued to words) yields no shape, and the text
// is parsed in full. Two texts share a shape only if every byte outside their constants is the same.

import { scanSync } from './pg-parser.js';

/** Marks a constant in a shape key; never part of a text that has a shape (control characters yield none). */
const HOLE = '\u0001';

export interface Shape {
  key: string;
  /** The text with constants as $n (after the text's own highest $n): what the audit log keeps. */
  redacted: string;
  /** [start, end) of each constant in the text. */
  spans: [number, number][];
}

const isIdentStart = (c: number) => (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95;
const isIdentChar = (c: number) => isIdentStart(c) || (c >= 48 && c <= 57) || c === 36;
const isDigit = (c: number) => c >= 48 && c <= 57;
/** Whitespace, operator characters and punctuation that stand for themselves. */
const PLAIN = new Set(' \t\n\r+*/<>=~!@#%^&|`?(),;[]:.'.split('').map((c) => c.charCodeAt(0)));

export function shapeOf(sql: string): Shape | null {
  const spans: [number, number][] = [];
  let maxParam = 0;
  const n = sql.length;
  let i = 0;
  while (i < n) {
    const c = sql.charCodeAt(i);
    if (isIdentStart(c)) {
      while (i < n && isIdentChar(sql.charCodeAt(i))) i++;
      if (i < n && sql.charCodeAt(i) === 39) return null; // E'…', B'…', X'…', N'…': prefixed strings
      continue;
    }
    if (c === 34) {
      // "quoted identifier" with "" inside: kept as is.
      i++;
      for (;;) {
        if (i >= n) return null;
        const d = sql.charCodeAt(i);
        if (d < 32 || d > 126) return null;
        i++;
        if (d === 34) {
          if (sql.charCodeAt(i) === 34) i++;
          else break;
        }
      }
      continue;
    }
    if (c === 39) {
      const start = i++;
      for (;;) {
        if (i >= n) return null;
        const d = sql.charCodeAt(i);
        if (d === 92 || (d < 32 && d !== 9 && d !== 10 && d !== 13) || d > 126) return null; // backslash, control, non-ASCII
        i++;
        if (d === 39) {
          if (sql.charCodeAt(i) === 39) i++;
          else break;
        }
      }
      // 'a' 'b' on separate lines is one constant to PostgreSQL; do not guess, parse.
      let j = i;
      while (j < n && (sql.charCodeAt(j) === 32 || sql.charCodeAt(j) === 9 || sql.charCodeAt(j) === 10 || sql.charCodeAt(j) === 13)) j++;
      if (j < n && sql.charCodeAt(j) === 39) return null;
      spans.push([start, i]);
      continue;
    }
    if (isDigit(c) || (c === 46 && isDigit(sql.charCodeAt(i + 1)))) {
      const prev = i > 0 ? sql.charCodeAt(i - 1) : 32;
      if (isIdentChar(prev) || prev === 46) return null;
      const start = i;
      while (i < n && isDigit(sql.charCodeAt(i))) i++;
      if (sql.charCodeAt(i) === 46) {
        i++;
        while (i < n && isDigit(sql.charCodeAt(i))) i++;
      }
      if (sql.charCodeAt(i) === 101 || sql.charCodeAt(i) === 69) {
        i++;
        if (sql.charCodeAt(i) === 43 || sql.charCodeAt(i) === 45) i++;
        if (!isDigit(sql.charCodeAt(i))) return null;
        while (i < n && isDigit(sql.charCodeAt(i))) i++;
      }
      if (i < n && (isIdentChar(sql.charCodeAt(i)) || sql.charCodeAt(i) === 46)) return null; // 1e, 0x1F, 1_000, 1.2.3, 1FOR
      spans.push([start, i]);
      continue;
    }
    if (c === 36) {
      // $n parameters stay; $tag$ quoting does not get a shape.
      let j = i + 1;
      while (j < n && isDigit(sql.charCodeAt(j))) j++;
      if (j === i + 1 || (j < n && isIdentChar(sql.charCodeAt(j)))) return null;
      maxParam = Math.max(maxParam, Number(sql.slice(i + 1, j)));
      i = j;
      continue;
    }
    if (c === 45 && sql.charCodeAt(i + 1) === 45) return null; // -- comment
    if (c === 47 && sql.charCodeAt(i + 1) === 42) return null; // /* comment */
    if (c === 45) {
      i++;
      continue;
    }
    if (!PLAIN.has(c)) return null;
    i++;
  }
  if (spans.length === 0) return null;
  let key = '';
  let redacted = '';
  let at = 0;
  spans.forEach(([s, e], k) => {
    key += sql.slice(at, s) + HOLE;
    redacted += `${sql.slice(at, s)}$${maxParam + k + 1}`;
    at = e;
  });
  key += sql.slice(at);
  redacted += sql.slice(at);
  return { key, redacted, spans };
}

const CONSTANT_TOKENS = new Set(['SCONST', 'ICONST', 'FCONST']);

/** True when PostgreSQL's own lexer finds constants exactly where the shape put them, and nowhere else. */
export function shapeAgreesWithLexer(sql: string, shape: Shape): boolean {
  let tokens: { start: number; end: number; tokenName: string }[];
  try {
    tokens = (scanSync(sql) as { tokens: { start: number; end: number; tokenName: string }[] }).tokens;
  } catch {
    return false;
  }
  const consts = tokens.filter((t) => CONSTANT_TOKENS.has(t.tokenName) || t.tokenName === 'BCONST' || t.tokenName === 'XCONST' || t.tokenName === 'USCONST');
  if (consts.length !== shape.spans.length) return false;
  return consts.every((t, k) => CONSTANT_TOKENS.has(t.tokenName) && t.start === shape.spans[k]![0] && t.end === shape.spans[k]![1]);
}
