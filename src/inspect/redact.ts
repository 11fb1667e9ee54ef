// Masks literal values in SQL text for the audit log: a small lexer that knows PostgreSQL's quoting rules.

/** Audit text for statements that did not parse is cut to this many characters. */
export const MAX_UNPARSED_AUDIT_CHARS = 2000;

/**
 * One alternation per token class the masker cares about; everything between matches (spaces, operators,
 * punctuation) is copied in bulk. Order matters: comments and parameters before dollar quotes and identifiers.
 */
const TOKEN = new RegExp([
  /--[^\n]*/.source, // line comment: kept
  /\/\*/.source, // block comment start: kept, nesting handled by hand
  /'/.source, // string
  /"/.source, // quoted identifier: kept
  /\$\d+/.source, // parameter: kept
  /\$(?:[A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$/.source, // dollar-quote opening tag
  /[A-Za-z_\u0080-\uffff][A-Za-z0-9_$\u0080-\uffff]*/.source, // identifier or keyword (maybe a string prefix)
  /(?:0[xX][0-9A-Fa-f_]+|0[oO][0-7_]+|0[bB][01_]+|\d[\d_]*(?:\.(?:\d[\d_]*)?)?|\.\d[\d_]*)(?:[eE][+-]?\d+)?/.source, // number
].join('|'), 'g');

/** Anything that could still be a literal: a quote, a dollar not starting $n, or a digit that does not continue a word. */
const MAYBE_LITERAL = /'|\$(?!\d)|(?<![A-Za-z0-9_$\u0080-\uffff])\d/;

/** Highest $n placeholder in the text, so new placeholders continue the numbering normalize started. */
function maxParam(sql: string): number {
  let max = 0;
  for (const m of sql.matchAll(/\$(\d{1,6})(?!\d)/g)) max = Math.max(max, Number(m[1]));
  return max;
}

/**
 * Replaces every string, bit-string and numeric literal with a $n placeholder; keeps identifiers, quoted
 * identifiers, comments, operators and existing $n parameters. An unterminated literal is masked to the end of
 * the text, so cutting a statement short can never reveal half a secret. Assumes standard_conforming_strings
 * (the default since PostgreSQL 9.1): backslash escapes only inside E'…'.
 */
export function maskLiterals(sql: string): string {
  if (!MAYBE_LITERAL.test(sql)) return sql;
  let next = maxParam(sql) + 1;
  let out = '';
  let copied = 0;
  const re = new RegExp(TOKEN.source, 'g');
  let m: RegExpExecArray | null;
  while ((m = re.exec(sql)) !== null) {
    const at = m.index;
    const tok = m[0];
    let end = at + tok.length;
    let masked = false;
    const c = tok[0];
    if (c === '/') {
      end = skipBlockComment(sql, at);
    } else if (c === '\'') {
      end = skipQuoted(sql, at, false);
      masked = true;
    } else if (c === '"') {
      end = skipQuoted(sql, at, false, '"');
    } else if (c === '$') {
      if (!/^\$\d/.test(tok)) {
        const close = sql.indexOf(tok, end);
        end = close === -1 ? sql.length : close + tok.length;
        masked = true;
      }
    } else if (c === '-') {
      // line comment: kept as is
    } else if (/[0-9.]/.test(c!)) {
      masked = true;
    } else {
      const lower = tok.length === 1 ? tok.toLowerCase() : '';
      if (sql[end] === '\'' && (lower === 'e' || lower === 'b' || lower === 'x' || lower === 'n')) {
        end = skipQuoted(sql, end, lower === 'e');
        masked = true;
      } else if (lower === 'u' && sql[end] === '&' && sql[end + 1] === '\'') {
        end = skipQuoted(sql, end + 1, false);
        masked = true;
      }
    }
    if (masked) {
      out += sql.slice(copied, at) + `$${next++}`;
      copied = end;
    }
    re.lastIndex = end;
  }
  return out + sql.slice(copied);
}

/** Index just past a quoted run starting at `start` (which holds the quote); doubled quotes stay inside. */
function skipQuoted(sql: string, start: number, backslashes: boolean, quote = '\''): number {
  let i = start + 1;
  while (i < sql.length) {
    const c = sql[i];
    if (backslashes && c === '\\') {
      i += 2;
    } else if (c === quote) {
      if (sql[i + 1] === quote) i += 2;
      else return i + 1;
    } else {
      i++;
    }
  }
  return sql.length;
}

/** Block comments nest in PostgreSQL. */
function skipBlockComment(sql: string, start: number): number {
  let depth = 0;
  let i = start;
  while (i < sql.length) {
    if (sql[i] === '/' && sql[i + 1] === '*') {
      depth++;
      i += 2;
    } else if (sql[i] === '*' && sql[i + 1] === '/') {
      depth--;
      i += 2;
      if (depth === 0) return i;
    } else {
      i++;
    }
  }
  return sql.length;
}

/** Cuts text to at most max characters without splitting a surrogate pair, and says that it did. */
export function truncateForAudit(text: string, max = MAX_UNPARSED_AUDIT_CHARS): string {
  if (text.length <= max) return text;
  const marker = ' …[truncated]';
  let cut = max - marker.length;
  const code = text.charCodeAt(cut - 1);
  if (code >= 0xd800 && code <= 0xdbff) cut--;
  return text.slice(0, cut) + marker;
}

/**
 * Audit text for a statement that did not parse (or was refused before parsing): literals masked unless the
 * role keeps them, then truncated. Only a prefix is masked, because an unterminated literal at the cut is
 * masked to its end anyway and a 100 MB text must not cost 100 MB of work.
 */
export function redactUnparsed(sql: string, keepLiterals: boolean): string {
  const prefix = sql.length > MAX_UNPARSED_AUDIT_CHARS * 4 ? sql.slice(0, MAX_UNPARSED_AUDIT_CHARS * 4) : sql;
  return truncateForAudit(keepLiterals ? prefix : maskLiterals(prefix));
}
