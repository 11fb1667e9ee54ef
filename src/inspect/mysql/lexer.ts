// A MySQL/MariaDB lexer that reads statement text the way the server does: quotes, comments, version comments
// (whose content the server executes, so it is code here, always), statement boundaries and literals.

export type TokenType =
  | 'word' // keyword or unquoted identifier
  | 'qident' // `backtick identifier`
  | 'dqstr' // "…": a string by default, an identifier under ANSI_QUOTES
  | 'string' // '…', N'…', _charset'…' (the introducer is its own word token)
  | 'number' // 12, 1.5e3, .5
  | 'hex' // 0x1F, X'1F', 0b101, B'101'
  | 'var' // @user_var, @'quoted'
  | 'sysvar' // @@name, @@global.name, @@`name`, @@session . `name` (one token, see Token.value)
  | 'param' // ?
  | 'punct' // ( ) , . ;
  | 'op'; // anything else: = < > + - * / % ! ~ & | ^ : etc.

export interface Token {
  type: TokenType;
  /** [start, end) in the text. */
  start: number;
  end: number;
  /**
   * Upper-cased text for words, the unquoted name for qident/dqstr, the source text otherwise. For a sysvar, its
   * name as the server looks it up: lower case, `scope.name` (scope global, session, local, persist or persist_only)
   * or `name`, however it was written (`@@SESSION . sql_mode`, ``@@session.`sql_mode` ``, comments around the dot).
   */
  value: string;
  /** sysvar only: why the lexer could not read the name fully (then `value` is its parts joined by dots). */
  unresolved?: string;
}

export interface LexedStatement {
  tokens: Token[];
  /** [start, end) of the statement in the text: its first token's start to its last token's end. */
  start: number;
  end: number;
}

export interface LexOptions {
  /** NO_BACKSLASH_ESCAPES: a backslash in a string is an ordinary character. */
  noBackslashEscapes: boolean;
  /**
   * Whether the server executes a version comment (`/*!NNNNN` → version NNNNN, `/*!` → null; `/*M!` → mariadbOnly).
   * A comment it does not execute is skipped like any comment. Default: every one is executed.
   */
  executes?: (version: number | null, mariadbOnly: boolean) => boolean;
  /** Filled with every version comment met, so a caller can try each way a server might read them. */
  seen?: VersionComment[];
}

export interface VersionComment {
  version: number | null;
  mariadbOnly: boolean;
}

export class MysqlLexError extends Error {}

const isWordChar = (c: number): boolean =>
  (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 || c === 36 || c >= 0x80;
const isDigit = (c: number): boolean => c >= 48 && c <= 57;
const isHexDigit = (c: number): boolean => isDigit(c) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102);
/** The server's "space or control character" test after `--` (a NUL at the end of the text counts). */
const endsDashDash = (c: number): boolean => Number.isNaN(c) || c <= 32 || c === 127;

/**
 * The statements being built. Helpers are module-level and take this state: a closure made per call would cost a
 * defineProperty each where the code runs through tsx (esbuild's keepNames), more than the lexing itself.
 */
interface LexState {
  sql: string;
  out: LexedStatement[];
  tokens: Token[];
  stmtStart: number;
  inVersion: boolean;
}

function pushToken(st: LexState, type: TokenType, start: number, end: number, value: string): void {
  // A server that skips the version comment ends it at the first `*/`, one that runs it does not: refuse to guess.
  if (st.inVersion && value.includes('*/')) throw new MysqlLexError('a quoted text containing */ inside a version comment /*!…*/');
  if (st.stmtStart < 0) st.stmtStart = start;
  st.tokens.push({ type, start, end, value });
}

function endStatement(st: LexState): void {
  if (st.tokens.some((t) => t.type === 'sysvar')) st.tokens = joinSysvars(st.sql, st.tokens);
  if (st.tokens.length > 0) st.out.push({ tokens: st.tokens, start: st.stmtStart, end: st.tokens[st.tokens.length - 1]!.end });
  st.tokens = [];
  st.stmtStart = -1;
}

/** Index past a quoted run opened at `start`; doubled quotes stay inside, backslash escapes where they apply. */
function skipQuoted(sql: string, start: number, quote: number, backslashes: boolean): number {
  const n = sql.length;
  let j = start + 1;
  for (;;) {
    if (j >= n) throw new MysqlLexError(`unterminated ${String.fromCharCode(quote)}-quoted text starting at offset ${start}`);
    const c = sql.charCodeAt(j);
    if (c === 0) throw new MysqlLexError('a NUL character inside a quoted text');
    if (backslashes && c === 92) {
      j += 2;
    } else if (c === quote) {
      if (sql.charCodeAt(j + 1) === quote) j += 2;
      else return j + 1;
    } else {
      j++;
    }
  }
}

function unquote(text: string, quote: string): string {
  return text.slice(1, -1).split(quote + quote).join(quote);
}

const isBitDigit = (x: number): boolean => x === 48 || x === 49;

/**
 * Splits text into statements of tokens. Comments vanish, except the body of a version comment `/*!NNNNN … *​/`
 * or `/*M!NNNNNN … *​/` that `opts.executes` says the server runs (by default every one): that body is code.
 * analysis.ts lexes the text once for every way a server may read its version comments and checks them all.
 * `;` ends a statement (also inside a version comment, as in the server), and so do the client commands `\G` and
 * `\g`. Throws MysqlLexError on text the server would read in a way this lexer cannot vouch for: an unterminated
 * quote or comment, a NUL, a comment inside a version comment or a quoted `*​/` there, an odd version number.
 */
export function lexMysql(sql: string, opts: LexOptions = { noBackslashEscapes: false }): LexedStatement[] {
  const st: LexState = { sql, out: [], tokens: [], stmtStart: -1, inVersion: false };
  const n = sql.length;
  let i = 0;

  while (i < n) {
    const c = sql.charCodeAt(i);
    // Whitespace.
    if (c === 32 || c === 9 || c === 10 || c === 13 || c === 11 || c === 12) {
      i++;
      continue;
    }
    if (c === 0) throw new MysqlLexError('a NUL character in the text');
    // Comments.
    if (c === 35 || (c === 45 && sql.charCodeAt(i + 1) === 45 && endsDashDash(sql.charCodeAt(i + 2)))) {
      // Inside a version comment the server's line comment would swallow a `*/` on its line; refuse to guess.
      if (st.inVersion) throw new MysqlLexError('a line comment inside a version comment /*!…*/');
      const nl = sql.indexOf('\n', i);
      i = nl === -1 ? n : nl + 1;
      continue;
    }
    if (c === 47 && sql.charCodeAt(i + 1) === 42) {
      if (st.inVersion) throw new MysqlLexError('a comment inside a version comment /*!…*/');
      let j = i + 2;
      let version = false;
      let mariadbOnly = false;
      if (sql.charCodeAt(j) === 33) {
        version = true;
        j++;
      } else if ((sql.charCodeAt(j) === 77 || sql.charCodeAt(j) === 109) && sql.charCodeAt(j + 1) === 33) {
        version = true;
        mariadbOnly = true;
        j += 2;
      }
      if (version) {
        const digits = j;
        while (j < n && isDigit(sql.charCodeAt(j))) j++;
        const count = j - digits;
        // MySQL reads 5 digits after /*!, MariaDB 5 or 6 after /*M!; other counts would leave digits we cannot place.
        if (mariadbOnly ? count !== 0 && count !== 5 && count !== 6 : count !== 0 && count !== 5) {
          throw new MysqlLexError(`a version comment with a ${count}-digit version number`);
        }
        if (sql.indexOf('*/', j) === -1) throw new MysqlLexError('unterminated version comment /*!…');
        const number = count === 0 ? null : Number(sql.slice(digits, j));
        opts.seen?.push({ version: number, mariadbOnly });
        if (opts.executes === undefined || opts.executes(number, mariadbOnly)) {
          st.inVersion = true;
          i = j;
          continue;
        }
      }
      const close = sql.indexOf('*/', j);
      if (close === -1) throw new MysqlLexError('unterminated comment /*…');
      i = close + 2;
      continue;
    }
    if (st.inVersion && c === 42 && sql.charCodeAt(i + 1) === 47) {
      st.inVersion = false;
      i += 2;
      continue;
    }
    // Statement terminators.
    if (c === 59) {
      endStatement(st);
      i++;
      continue;
    }
    if (c === 92) {
      const d = sql.charCodeAt(i + 1);
      if (d === 71 || d === 103) {
        endStatement(st);
        i += 2;
        continue;
      }
      throw new MysqlLexError(`a backslash outside a quoted text at offset ${i}`);
    }
    // Quoted text.
    if (c === 39) {
      const end = skipQuoted(sql, i, 39, !opts.noBackslashEscapes);
      pushToken(st, 'string', i, end, sql.slice(i, end));
      i = end;
      continue;
    }
    if (c === 34) {
      const end = skipQuoted(sql, i, 34, !opts.noBackslashEscapes);
      pushToken(st, 'dqstr', i, end, unquote(sql.slice(i, end), '"'));
      i = end;
      continue;
    }
    if (c === 96) {
      const end = skipQuoted(sql, i, 96, false);
      pushToken(st, 'qident', i, end, unquote(sql.slice(i, end), '`'));
      i = end;
      continue;
    }
    // Variables.
    if (c === 64) {
      if (sql.charCodeAt(i + 1) === 64) {
        // `@@` and the first part of the name, plain or backquoted; a scope, dots and more parts are joined to it
        // at the statement's end (joinSysvars), with whatever spaces and comments the server allows between them.
        let j = i + 2;
        if (sql.charCodeAt(j) === 96) j = skipQuoted(sql, j, 96, false);
        else while (j < n && isWordChar(sql.charCodeAt(j))) j++;
        pushToken(st, 'sysvar', i, j, sql.slice(i + 2, j));
        i = j;
        continue;
      }
      const q = sql.charCodeAt(i + 1);
      if (q === 39 || q === 34 || q === 96) {
        const end = skipQuoted(sql, i + 1, q, q !== 96 && !opts.noBackslashEscapes);
        pushToken(st, 'var', i, end, sql.slice(i, end));
        i = end;
        continue;
      }
      let j = i + 1;
      while (j < n && (isWordChar(sql.charCodeAt(j)) || sql.charCodeAt(j) === 46)) j++;
      pushToken(st, 'var', i, j, sql.slice(i, j));
      i = j;
      continue;
    }
    if (c === 63) {
      pushToken(st, 'param', i, i + 1, '?');
      i++;
      continue;
    }
    // Numbers, hex and bit literals: 0x1F, 0b101, 12, 1.5, .5e-3 (a word glued to digits is an identifier, 1abc).
    if (isDigit(c) || (c === 46 && isDigit(sql.charCodeAt(i + 1)) && !prevIsWordOrQuoted(st.tokens, i))) {
      const d = sql.charCodeAt(i + 1);
      if (c === 48 && (d === 120 || d === 98)) {
        let j = i + 2;
        const ok = d === 120 ? isHexDigit : isBitDigit;
        while (j < n && ok(sql.charCodeAt(j))) j++;
        if (j > i + 2 && !(j < n && isWordChar(sql.charCodeAt(j)))) {
          pushToken(st, 'hex', i, j, sql.slice(i, j));
          i = j;
          continue;
        }
      }
      let j = i;
      while (j < n && isDigit(sql.charCodeAt(j))) j++;
      if (sql.charCodeAt(j) === 46) {
        j++;
        while (j < n && isDigit(sql.charCodeAt(j))) j++;
      }
      const e = sql.charCodeAt(j);
      if (e === 101 || e === 69) {
        let k = j + 1;
        if (sql.charCodeAt(k) === 43 || sql.charCodeAt(k) === 45) k++;
        if (isDigit(sql.charCodeAt(k))) {
          while (k < n && isDigit(sql.charCodeAt(k))) k++;
          j = k;
        }
      }
      if (j < n && isWordChar(sql.charCodeAt(j)) && !sql.slice(i, j).includes('.')) {
        // 1abc, 123e: an identifier that starts with digits.
        while (j < n && isWordChar(sql.charCodeAt(j))) j++;
        pushToken(st, 'word', i, j, sql.slice(i, j).toUpperCase());
        i = j;
        continue;
      }
      pushToken(st, 'number', i, j, sql.slice(i, j));
      i = j;
      continue;
    }
    // Words, and the literals a word can introduce: X'…', B'…', N'…', _charset'…'.
    if (isWordChar(c)) {
      let j = i;
      while (j < n && isWordChar(sql.charCodeAt(j))) j++;
      const word = sql.slice(i, j).toUpperCase();
      if (sql.charCodeAt(j) === 39 && (word === 'X' || word === 'B')) {
        const end = skipQuoted(sql, j, 39, false);
        pushToken(st, 'hex', i, end, sql.slice(i, end));
        i = end;
        continue;
      }
      if (sql.charCodeAt(j) === 39 && word === 'N') {
        const end = skipQuoted(sql, j, 39, !opts.noBackslashEscapes);
        pushToken(st, 'string', i, end, sql.slice(i, end));
        i = end;
        continue;
      }
      pushToken(st, 'word', i, j, word);
      i = j;
      continue;
    }
    if (c === 40 || c === 41 || c === 44 || c === 46) {
      pushToken(st, 'punct', i, i + 1, sql[i]!);
      i++;
      continue;
    }
    // Operators: take the longest run the server knows as one operator.
    const op = operatorLength(sql, i);
    pushToken(st, 'op', i, i + op, sql.slice(i, i + op));
    i += op;
  }
  if (st.inVersion) throw new MysqlLexError('unterminated version comment /*!…');
  endStatement(st);
  return st.out;
}

const TWO_CHAR_OPS = new Set(['<=', '>=', '<>', '!=', ':=', '<<', '>>', '&&', '||', '->']);

/** Length of the operator at i: `<=>` and `->>` are three characters, the server's two-character operators two. */
function operatorLength(sql: string, i: number): number {
  const three = sql.slice(i, i + 3);
  if (three === '<=>' || three === '->>') return 3;
  return TWO_CHAR_OPS.has(three.slice(0, 2)) ? 2 : 1;
}

function prevIsWordOrQuoted(tokens: Token[], at: number): boolean {
  // `t.5col` is a qualified identifier, not a number; the dot belongs to the name before it.
  const prev = tokens[tokens.length - 1];
  if (prev === undefined || prev.end !== at) return false;
  return prev.type === 'word' || prev.type === 'qident' || prev.type === 'dqstr' || prev.type === 'sysvar';
}

const SCOPES = new Set(['global', 'session', 'local', 'persist', 'persist_only']);
/** A system variable's name as the servers spell theirs: ASCII letters, digits and `_` (a lookup is case-blind). */
const SYSVAR_NAME = /^[a-z0-9_]+$/;

/**
 * Joins each `@@` token with the `.` and name parts after it into one sysvar token. The server reads
 * `@@session . sql_mode`, ``@@`sql_mode` `` and `@@SESSION` + a comment + ``.`sql_mode` `` all as the session's sql_mode; a
 * check that stopped at the first part would see a variable named "session" or "". A name the lexer cannot place
 * (empty, not ASCII, a backquoted scope, three parts, a structured variable such as `@@default.key_buffer_size`, a
 * dot without a name after it) stays one token with `unresolved` set, and a SET of it is refused.
 */
function joinSysvars(sql: string, tokens: Token[]): Token[] {
  const out: Token[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (t.type !== 'sysvar') {
      out.push(t);
      continue;
    }
    const raw = [t.value];
    const quoted = [t.value.startsWith('`')];
    let end = t.end;
    let dangling = false;
    while (isDot(tokens[i + 1])) {
      const part = tokens[i + 2];
      if (part === undefined || !(part.type === 'word' || part.type === 'qident')) {
        dangling = true;
        break;
      }
      raw.push(sql.slice(part.start, part.end));
      quoted.push(part.type === 'qident');
      end = part.end;
      i += 2;
    }
    // `@@session .5x`: the server reads a number there; nothing the lexer can vouch for.
    const next = tokens[i + 1];
    if (next !== undefined && next.type === 'number' && next.value.startsWith('.')) dangling = true;
    const parts = raw.map((p, k) => (quoted[k] ? unquote(p, '`') : p).toLowerCase());
    let unresolved: string | undefined;
    let value = parts.join('.');
    if (parts[0] === '') unresolved = 'no name right after @@';
    else if (dangling) unresolved = 'a dot after the name without a name the gateway can read';
    else if (parts.some((p) => !SYSVAR_NAME.test(p))) unresolved = 'a name that is not made of ASCII letters, digits and _';
    else if (parts.length === 2 && (quoted[0] || !SCOPES.has(parts[0]!))) unresolved = `${quoted[0] ? 'a backquoted' : 'an unknown'} scope "${parts[0]}" before the dot (the scopes are global, session, local, persist and persist_only, written plainly)`;
    else if (parts.length > 2) unresolved = 'more than a scope and a name';
    else if (parts.length === 2) value = `${parts[0]}.${parts[1]}`;
    const joined: Token = { type: 'sysvar', start: t.start, end, value };
    if (unresolved !== undefined) joined.unresolved = unresolved;
    out.push(joined);
  }
  return out;
}

const isDot = (t: Token | undefined): boolean => t !== undefined && t.type === 'punct' && t.value === '.';

/** Token boundaries and types as one comparable string. */
function signature(stmts: LexedStatement[]): string {
  return stmts.map((s) => s.tokens.map((t) => `${t.type}:${t.start}-${t.end}`).join(' ')).join(';');
}

export interface MysqlLexResult {
  statements: LexedStatement[];
}

/**
 * Lexes under both backslash rules (the session's sql_mode is not known to the gateway) and throws when they
 * disagree: a backslash before a quote would then let the server see a statement boundary, or a keyword, where
 * the check saw text inside a string. A gateway that knows the session's mode (the SERVER_STATUS_NO_BACKSLASH_ESCAPES
 * flag of the server's last OK packet) passes it and gets one reading. `"…"` is read as a string with backslash
 * escapes; under ANSI_QUOTES it is an identifier, where a backslash is not an escape, so it can end elsewhere: the
 * inspector refuses setting sql_mode (rule text_setting) and the gateway ends a session whose sql_mode has ANSI_QUOTES.
 */
export function lexMysqlSafely(sql: string, noBackslashEscapes: boolean | null = null, versions: Pick<LexOptions, 'executes' | 'seen'> = {}): LexedStatement[] {
  if (noBackslashEscapes !== null) return lexMysql(sql, { noBackslashEscapes, ...versions });
  const withEscapes = lexMysql(sql, { noBackslashEscapes: false, ...versions });
  // Most texts have no backslash at all; then both readings are the same.
  if (!sql.includes('\\')) return withEscapes;
  let without: LexedStatement[];
  try {
    without = lexMysql(sql, { noBackslashEscapes: true, executes: versions.executes });
  } catch {
    throw new MysqlLexError('a backslash in a quoted text reads differently with and without NO_BACKSLASH_ESCAPES; write a quote inside a string as two quotes (\'\')');
  }
  if (signature(withEscapes) !== signature(without)) {
    throw new MysqlLexError('a backslash in a quoted text reads differently with and without NO_BACKSLASH_ESCAPES; write a quote inside a string as two quotes (\'\')');
  }
  return withEscapes;
}
