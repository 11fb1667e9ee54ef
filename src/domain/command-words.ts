// Command lines and command rules read as strict POSIX shell words (no expansion of any kind): pure rules, below
// the policy (which checks every rule when it loads) and the inspector (which matches argv against them).

/** The longest command line read; a longer one is refused. */
export const MAX_COMMAND_LINE = 64 * 1024;

export type ParsedCommand = { argv: string[] } | { error: string };

// Characters that mislead a reader of the audit log (bidirectional overrides, zero-width characters, line and
// paragraph separators) or cannot be an argument at all (NUL, a lone surrogate): refused anywhere, quoted or not.
const NEVER = /[\0\p{Cf}\p{Cs}\p{Zl}\p{Zp}]/u;
// Control characters inside quotes: only tab and newline are plain text there.
const QUOTED_CONTROL = /[\x01-\x08\x0b-\x1f\x7f\x80-\x9f]/;
// Unquoted: any control character but tab (a separator), and any space other than the ASCII one.
const UNQUOTED_CONTROL = /[\x01-\x08\x0a-\x1f\x7f\x80-\x9f]|(?! )\p{Zs}/u;

const META: Record<string, string> = {
  ';': "';' would run a second command; run one command per request (or quote it: ';')",
  '&': "'&' (background, &&) would run more than one command; run one command per request (or quote it: '&')",
  '|': "'|' (a pipe, ||) would run more than one command; run one command per request (or quote it: '|')",
  '<': "'<' (a redirection) is not read here; pass the file as an argument (or quote it: '<')",
  '>': "'>' (a redirection) is not read here; pass the file as an argument (or quote it: '>')",
  '(': "'(' (a subshell) is not read here; run the command itself (or quote it: '(')",
  ')': "')' is not read here; quote it: ')'",
  '$': "'$' (a variable, $(…) or $'…') is not expanded here; write the value itself, in single quotes if it holds special characters",
  '`': "'`' (command substitution) is not run here; write the value itself (or quote it: '`')",
  '*': "'*' (a file-name pattern) is not expanded here; write the file names (or quote it: '*')",
  '?': "'?' (a file-name pattern) is not expanded here; write the file names (or quote it: '?')",
  '[': "'[' (a file-name pattern) is not expanded here; write the file names (or quote it: '[')",
  '{': "'{' (brace expansion) is not expanded here; write each word (or quote it: '{')",
  '}': "'}' is not read here; quote it: '}'",
  '#': "'#' (a comment) is not read here; quote it if it is part of an argument: '#'",
  '!': "'!' (negation, history) is not read here; quote it: '!'",
};

function describeChar(c: string): string {
  const cp = c.codePointAt(0)!;
  return `U+${cp.toString(16).toUpperCase().padStart(4, '0')}`;
}

/**
 * Reads a command line as POSIX shell words: single quotes, double quotes (inside them only \\ \" \$ \` escape) and
 * backslash escapes. Anything a shell would expand or treat as syntax — ; & | < > ( ) $ ` newlines, unquoted
 * * ? [ { } # !, a ~ starting a word, a VAR=value before the command, $ or ` inside double quotes — is refused with
 * what to write instead: the argv is run without a shell, so the user must not expect one.
 */
export function parseCommandLine(line: string): ParsedCommand {
  return readWords(line, false);
}

export type RuleWord = { glob: string; rest: false } | { glob: null; rest: true };

/** The words of a rule: as parseCommandLine, but unquoted * and ? are globs and a last unquoted ... is "any more". */
export function readRule(rule: string): { words: RuleWord[] } | { error: string } {
  const r = readWords(rule, true);
  if ('error' in r) return r;
  const words: RuleWord[] = r.argv.map((w, i) => (w === REST && i === r.argv.length - 1 ? { glob: null, rest: true } : { glob: w, rest: false }));
  if (r.argv.slice(0, -1).includes(REST)) return { error: '... may only be the last word of a rule' };
  return { words };
}

// Inside a rule, an unquoted * or ? becomes one of these private-use markers and a last ... becomes REST, so a quoted
// '*' or '...' stays literal; rule text holding the markers themselves is refused.
export const STAR = '\uE000';
export const QMARK = '\uE001';
const REST = '\uE002...';

function readWords(line: string, rule: boolean): ParsedCommand {
  if (line.length > MAX_COMMAND_LINE) return { error: `the command line is longer than ${MAX_COMMAND_LINE} characters` };
  const bad = NEVER.exec(line);
  if (bad) return { error: `the command line holds the character ${describeChar(bad[0])}, which cannot be part of a command; remove it` };
  if (rule && /[\uE000-\uE002]/.test(line)) return { error: 'a rule cannot hold private-use characters U+E000–U+E002' };
  const argv: string[] = [];
  let word = '';
  let started = false;
  // The first word, while it is still unquoted name characters: a following '=' makes it an assignment.
  let assignable = true;
  const chars = Array.from(line);
  let i = 0;
  const end = (): void => {
    if (started) argv.push(word);
    word = '';
    started = false;
  };
  while (i < chars.length) {
    const c = chars[i]!;
    if (c === ' ' || c === '\t') {
      end();
      if (argv.length > 0) assignable = false;
      i++;
      continue;
    }
    if (c === '\n' || c === '\r') return { error: 'a newline would start a second command; run one command per request (or put it inside quotes)' };
    if (UNQUOTED_CONTROL.test(c)) return { error: `the control or space character ${describeChar(c)} outside quotes is not read here; remove it, or put it inside single quotes` };
    if (c === "'") {
      const close = chars.indexOf("'", i + 1);
      if (close < 0) return { error: 'a single quote is never closed; close it with another \'' };
      const text = chars.slice(i + 1, close).join('');
      const ctl = QUOTED_CONTROL.exec(text);
      if (ctl) return { error: `the control character ${describeChar(ctl[0])} is not allowed, even quoted; remove it` };
      word += text;
      started = true;
      assignable = false;
      i = close + 1;
      continue;
    }
    if (c === '"') {
      const r = readDoubleQuoted(chars, i + 1);
      if ('error' in r) return r;
      word += r.text;
      started = true;
      assignable = false;
      i = r.next;
      continue;
    }
    if (c === '\\') {
      const n = chars[i + 1];
      if (n === undefined) return { error: 'the line ends with a backslash; remove it, or write \\\\ for a backslash' };
      if (n === '\n' || n === '\r') return { error: 'a backslash-newline (line continuation) is not read here; write the command on one line' };
      if (UNQUOTED_CONTROL.test(n) || n === '\t') return { error: `the control character ${describeChar(n)} after a backslash is not read here; remove it` };
      word += n;
      started = true;
      assignable = false;
      i += 2;
      continue;
    }
    if (rule && (c === '*' || c === '?')) {
      word += c === '*' ? STAR : QMARK;
      started = true;
      assignable = false;
      i++;
      continue;
    }
    if (rule && c === '.' && !started && chars[i + 1] === '.' && chars[i + 2] === '.' && (i + 3 === chars.length || chars[i + 3] === ' ' || chars[i + 3] === '\t')) {
      word = REST;
      started = true;
      i += 3;
      continue;
    }
    const meta = META[c];
    if (meta) return { error: meta };
    if (c === '~' && !started) return { error: "'~' at the start of a word (a home directory) is not expanded here; write the path itself (or quote it: '~')" };
    if (c === '=' && argv.length === 0 && assignable && started && /^[A-Za-z_][A-Za-z0-9_]*$/.test(word)) {
      return { error: `${word}=… before the command (a variable assignment) is not read here; run env ${word}=… <command> if the rules allow env, or quote the word if it is the program's name` };
    }
    if (argv.length === 0 && !/[A-Za-z0-9_]/.test(c)) assignable = false;
    word += c;
    started = true;
    i++;
  }
  end();
  if (argv.length === 0) return { error: rule ? 'the rule is empty' : 'no command given; name the program to run and its arguments' };
  if (argv[0] === '') return { error: "the program name is empty (''); name the program to run" };
  return { argv };
}

function readDoubleQuoted(chars: string[], from: number): { text: string; next: number } | { error: string } {
  let text = '';
  for (let i = from; i < chars.length; i++) {
    const c = chars[i]!;
    if (c === '"') return { text, next: i + 1 };
    if (c === '$') return { error: "'$' inside double quotes would be expanded by a shell and is not here; use single quotes for a literal $ ('$HOME'), or write the value itself" };
    if (c === '`') return { error: "'`' inside double quotes would run a command in a shell and is not here; use single quotes for a literal `" };
    if (c === '\\') {
      const n = chars[i + 1];
      if (n === undefined) break;
      if (n === '\n' || n === '\r') return { error: 'a backslash-newline (line continuation) is not read here; write the command on one line' };
      if (n === '\\' || n === '"' || n === '$' || n === '`') {
        text += n;
        i++;
        continue;
      }
      // Any other backslash inside double quotes is itself (POSIX): "\n" is a backslash and an n.
      text += c;
      continue;
    }
    if (QUOTED_CONTROL.test(c)) return { error: `the control character ${describeChar(c)} is not allowed, even quoted; remove it` };
    text += c;
  }
  return { error: 'a double quote is never closed; close it with another "' };
}

/** Why a command rule cannot be read, or null when it can (the policy checks every rule with it when it loads). */
export function ruleProblem(rule: string): string | null {
  const r = readRule(rule);
  return 'error' in r ? r.error : null;
}
