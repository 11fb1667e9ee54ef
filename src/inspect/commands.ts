// Exec command rules: a command line read as strict POSIX shell words (no expansion of any kind), a role's
// commands.allow/deny matched on the resulting argv, and the quoting that makes a remote shell run exactly that argv.

/** The longest command line read; a longer one is refused. */
export const MAX_COMMAND_LINE = 64 * 1024;

export type ParsedCommand = { argv: string[] } | { error: string };

export interface CommandRules {
  allow: string[];
  deny: string[];
}

export interface CommandDecision {
  decision: 'allowed' | 'refused';
  /** The rule that refused the command (`commands.allow`, or `commands.deny: <rule>`); null when allowed. */
  rule: string | null;
  /** Plain words: why it was refused (with what to do), or which allow rule let it run. */
  reason: string;
}

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

type RuleWord = { glob: string; rest: false } | { glob: null; rest: true };

/** The words of a rule: as parseCommandLine, but unquoted * and ? are globs and a last unquoted ... is "any more". */
function readRule(rule: string): { words: RuleWord[] } | { error: string } {
  const r = readWords(rule, true);
  if ('error' in r) return r;
  const words: RuleWord[] = r.argv.map((w, i) => (w === REST && i === r.argv.length - 1 ? { glob: null, rest: true } : { glob: w, rest: false }));
  if (r.argv.slice(0, -1).includes(REST)) return { error: '... may only be the last word of a rule' };
  return { words };
}

// Inside a rule, an unquoted * or ? becomes one of these private-use markers and a last ... becomes REST, so a quoted
// '*' or '...' stays literal; rule text holding the markers themselves is refused.
const STAR = '\uE000';
const QMARK = '\uE001';
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

/** The single-quoted POSIX shell words that make a remote `sh -c` run exactly `argv`. */
export function quoteArgv(argv: readonly string[]): string {
  return argv.map((w) => `'${w.replace(/'/g, "'\\''")}'`).join(' ');
}

function globRegex(word: string): RegExp {
  let src = '^';
  for (const ch of word) {
    if (ch === STAR) src += '[\\s\\S]*';
    else if (ch === QMARK) src += '[\\s\\S]';
    else src += ch.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&');
  }
  return new RegExp(`${src}$`, 'u');
}

interface CompiledRule {
  text: string;
  words: RegExp[];
  /** The rule's program word has no slash: a deny rule then also matches any path ending in /<program>. */
  bareProgram: boolean;
  rest: boolean;
}

const compiledCache = new Map<string, CompiledRule | { error: string }>();

/** Reads one rule; `{ error }` when it cannot be read (a policy check can show it, see ruleProblem). */
function compileRule(text: string): CompiledRule | { error: string } {
  const hit = compiledCache.get(text);
  if (hit) return hit;
  const r = readRule(text);
  let out: CompiledRule | { error: string };
  if ('error' in r) out = { error: r.error };
  else {
    const fixed = r.words.filter((w): w is { glob: string; rest: false } => !w.rest);
    out = { text, words: fixed.map((w) => globRegex(w.glob)), bareProgram: fixed.length > 0 && !fixed[0]!.glob.includes('/'), rest: r.words.length > fixed.length };
  }
  if (compiledCache.size > 10_000) compiledCache.clear();
  compiledCache.set(text, out);
  return out;
}

/** Why a command rule cannot be read, or null when it can (for policy validation). */
export function ruleProblem(rule: string): string | null {
  const r = compileRule(rule);
  return 'error' in r ? r.error : null;
}

function matches(rule: CompiledRule, argv: readonly string[], deny: boolean): boolean {
  if (rule.rest ? argv.length < rule.words.length : argv.length !== rule.words.length) return false;
  return rule.words.every((re, i) => {
    if (re.test(argv[i]!)) return true;
    // Fail closed for deny rules: "rm" also refuses /bin/rm, ./rm and ../usr/bin/rm. Allow rules match exactly.
    if (i === 0 && deny && rule.bareProgram) {
      const slash = argv[0]!.lastIndexOf('/');
      return slash >= 0 && re.test(argv[0]!.slice(slash + 1));
    }
    return false;
  });
}

/**
 * Checks a command's argv against a role's command rules. Deny wins over allow; with a non-empty allow list anything
 * not allowed is refused; no rules (or empty lists) allow everything. A rule is shell words (quoted like a command
 * line) whose unquoted * and ? match within one argv element and whose last word ... matches any further arguments;
 * otherwise the argv has exactly as many elements as the rule. The program word matches argv[0] exactly in an allow
 * rule ("ls" does not allow /bin/ls); in a deny rule a program word without a slash also matches any path ending in
 * it ("rm" refuses /bin/rm). A rule that cannot be read allows nothing, and as a deny rule refuses everything.
 */
export function checkCommand(argv: readonly string[], rules: CommandRules | undefined): CommandDecision {
  if (argv.length === 0) return { decision: 'refused', rule: 'commands.allow', reason: 'no command given' };
  for (const text of rules?.deny ?? []) {
    const r = compileRule(text);
    if ('error' in r) return { decision: 'refused', rule: `commands.deny: ${text}`, reason: `the role's deny rule "${text}" cannot be read (${r.error}), so every command is refused; ask an admin to fix the policy` };
    if (matches(r, argv, true)) return { decision: 'refused', rule: `commands.deny: ${text}`, reason: `the role refuses this command (deny rule "${text}")` };
  }
  const allow = rules?.allow ?? [];
  if (allow.length === 0) return { decision: 'allowed', rule: null, reason: 'the role has no allow list' };
  for (const text of allow) {
    const r = compileRule(text);
    if (!('error' in r) && matches(r, argv, false)) return { decision: 'allowed', rule: null, reason: `allowed by "${text}"` };
  }
  return { decision: 'refused', rule: 'commands.allow', reason: `the role allows only: ${allow.join(' | ')}; this command is none of them (the program must be named exactly as in the rule)` };
}

/** A command as one line for people (the audit log, the session list): plain words bare, others single-quoted. */
export function displayArgv(argv: readonly string[]): string {
  return argv.map((w) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(w) ? w : quoteArgv([w]))).join(' ');
}
