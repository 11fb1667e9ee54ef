// Exec command rules: a command line read as strict POSIX shell words (no expansion of any kind), a role's
// commands.allow/deny matched on the resulting argv, and the quoting that makes a remote shell run exactly that argv.
// The reading of words and rules itself lives in src/domain/command-words.ts (the policy checks rules with it too).
import { posix } from 'node:path';
import { QMARK, readRule, STAR } from '../domain/command-words.js';

export { MAX_COMMAND_LINE, parseCommandLine, ruleProblem, type ParsedCommand } from '../domain/command-words.js';

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

/** The single-quoted POSIX shell words that make a remote `sh -c` run exactly `argv`. */
export function quoteArgv(argv: readonly string[]): string {
  return argv.map((w) => `'${w.replace(/'/g, "'\\''")}'`).join(' ');
}

/**
 * A rule word as a regular expression: an unquoted * matches any characters but "/", ? one character but "/", and **
 * any characters including "/" — path globs, so `cat /var/log/*` reads only the files in /var/log.
 */
function globRegex(word: string): RegExp {
  let src = '^';
  const chars = [...word];
  for (let i = 0; i < chars.length; i++) {
    const ch = chars[i]!;
    if (ch === STAR && chars[i + 1] === STAR) {
      src += '[\\s\\S]*';
      while (chars[i + 1] === STAR) i++;
    } else if (ch === STAR) src += '[^/]*';
    else if (ch === QMARK) src += '[^/]';
    else src += ch.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&');
  }
  return new RegExp(`${src}$`, 'u');
}

/** A path with no "." or ".." component and no empty one ("a//b"): what it names is what it says. */
function plainPath(p: string): boolean {
  return !/(^|\/)\.\.?(\/|$)/.test(p) && !/\/\//.test(p);
}

/** "." and ".." components and repeated slashes resolved the way the host's kernel reads them (symlinks aside). */
function normalPath(p: string): string {
  return posix.normalize(p);
}

interface CompiledRule {
  text: string;
  words: RegExp[];
  /** Which words name paths (hold a "/"): their argument must be a plain path to be allowed. */
  paths: boolean[];
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
    out = { text, words: fixed.map((w) => globRegex(w.glob)), paths: fixed.map((w) => w.glob.includes('/')), bareProgram: fixed.length > 0 && !fixed[0]!.glob.includes('/'), rest: r.words.length > fixed.length };
  }
  if (compiledCache.size > 10_000) compiledCache.clear();
  compiledCache.set(text, out);
  return out;
}

function matches(rule: CompiledRule, argv: readonly string[], deny: boolean): boolean {
  if (rule.rest ? argv.length < rule.words.length : argv.length !== rule.words.length) return false;
  return rule.words.every((re, i) => {
    const arg = argv[i]!;
    if (rule.paths[i]) {
      // An allow rule's path matches only a plain path: /var/log/../../etc/shadow is not "in" /var/log. A deny rule's
      // path also matches the path the argument means: /var/log/./secure is /var/log/secure.
      if (!deny) return plainPath(arg) && re.test(arg);
      if (re.test(arg) || re.test(normalPath(arg))) return true;
    }
    if (re.test(arg)) return true;
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
 * line) whose unquoted * and ? match within one argv element but never a "/" (** does), and whose last word ...
 * matches any further arguments; a rule word with a "/" allows only a plain path (no "." or ".." component, no "//"),
 * and as a deny rule also refuses the path such an argument resolves to;
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
