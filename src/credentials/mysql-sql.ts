// SQL text for MySQL/MariaDB user management, where account names and GRANT targets take no bind parameters:
// quoting that means the same under every sql_mode, the stored form of a password, and checks on policy GRANT bodies.
import { createHash } from 'node:crypto';
import { AirlockError } from '../domain/errors.js';

/** Schema, table and event names are at most 64 characters on both servers. */
export const MAX_MYSQL_IDENTIFIER_CHARS = 64;

function bad(message: string): AirlockError {
  return new AirlockError('AIRLOCK_BAD_INPUT', message);
}

/** Backtick-quotes an identifier (backticks doubled): the one quoting every sql_mode reads the same, ANSI_QUOTES included. */
export function quoteMysqlIdent(name: string): string {
  if (name.length === 0 || name.includes('\0')) throw bad('a MySQL identifier must be non-empty text without NUL');
  if ([...name].length > MAX_MYSQL_IDENTIFIER_CHARS) throw bad(`the MySQL identifier "${name.slice(0, 20)}…" is longer than ${MAX_MYSQL_IDENTIFIER_CHARS} characters`);
  if (/\s$/.test(name)) throw bad(`the MySQL identifier "${name.slice(0, 40)}" ends with white space, which MySQL does not allow`);
  return `\`${name.replace(/`/g, '``')}\``;
}

/**
 * Quotes a string literal by doubling single quotes. A backslash is refused rather than escaped: whether `\\` means
 * one backslash or two depends on NO_BACKSLASH_ESCAPES, and no value Airlock writes (its own names, an address, a
 * hash, its JSON marker) ever needs one.
 */
export function quoteMysqlString(value: string): string {
  if (value.includes('\0') || value.includes('\\')) throw bad('a MySQL string literal here cannot contain a backslash or NUL');
  return `'${value.replace(/'/g, "''")}'`;
}

/** A host part as MySQL stores it: a name, an IPv4/IPv6 address, a netmask or a pattern with % and _. */
const HOST = /^[A-Za-z0-9.:%_/-]{1,255}$/;

export function checkMysqlHost(host: string): string {
  if (!HOST.test(host)) throw bad(`"${host.slice(0, 60)}" is not a MySQL account host (a name, an address or a % pattern)`);
  return host;
}

/** 'user'@'host', quoted. */
export function mysqlAccount(user: string, host: string): string {
  return `${quoteMysqlString(user)}@${quoteMysqlString(checkMysqlHost(host))}`;
}

/**
 * The mysql_native_password hash the server stores ('*' + upper-case hex of SHA1(SHA1(password)))): CREATE USER then
 * carries the hash, never the password, so the general log or a replica's binlog holds nothing that logs in.
 */
export function mysqlNativePasswordHash(password: string): string {
  const once = createHash('sha1').update(password, 'utf8').digest();
  return `*${createHash('sha1').update(once).digest('hex').toUpperCase()}`;
}

/** Privilege words that write data or change the schema, or run code that may (EXECUTE); ALL includes them. */
const WRITE_WORDS = new Set(['INSERT', 'UPDATE', 'DELETE', 'CREATE', 'DROP', 'ALTER', 'INDEX', 'ALL', 'REFERENCES', 'TRIGGER', 'EVENT', 'EXECUTE', 'LOCK', 'HISTORY']);
/** Never handed out by a grant: delegation, impersonation, and anything about accounts. */
const REFUSED_WORDS = new Set(['GRANT', 'OPTION', 'PROXY', 'WITH', 'TO', 'IDENTIFIED', 'REQUIRE', 'USER', 'ROLE', 'ADMIN', 'SUPER', 'FILE', 'SHUTDOWN', 'PROCESS', 'RELOAD', 'REPLICATION']);
const IDENT = '`(?:[^`]|``)+`|[A-Za-z0-9_$]+';
const TARGET = new RegExp(`^(?:(TABLE|FUNCTION|PROCEDURE)\\s+)?(${IDENT})\\s*\\.\\s*(\\*|${IDENT})$`, 'i');

function unquote(ident: string): string {
  return ident.startsWith('`') ? ident.slice(1, -1).replace(/``/g, '`') : ident;
}

/** The privilege words of a body, outside any column list: 'SELECT (a, b), SHOW VIEW' → ['SELECT', 'SHOW', 'VIEW']. */
function privilegeWords(privileges: string): string[] {
  return privileges.replace(/\([^)]*\)/g, ' ').split(/[\s,]+/).filter(Boolean).map((w) => w.toUpperCase());
}

/**
 * Checks a GRANT body from the policy for a MySQL resource, '<privileges> ON <schema>.<table or *>', and returns it with
 * the schema quoted. The body is pasted between GRANT and TO <user>, so anything that could end the statement, comment
 * out the TO clause, name another grantee or delegate (WITH GRANT OPTION) is refused, and the target must be inside one
 * of the resource's schemas: never *.*, never a bare name (which would mean whichever schema is current).
 */
export function checkMysqlGrantBody(body: string, schemas: readonly string[]): { text: string; schema: string; writes: boolean } {
  const text = body.trim();
  const refuse = (why: string) => bad(`the grant "${text.slice(0, 120)}" is refused for a MySQL resource: ${why}`);
  if (text.length === 0) throw refuse('it is empty');
  if (/[;\\'"\0\r\n]/.test(text)) throw refuse('it contains ;, a quote, a backslash or a line break');
  if (text.includes('--') || text.includes('#') || text.includes('/*')) throw refuse('it contains an SQL comment');
  const parts = text.split(/\s+ON\s+/i);
  if (parts.length !== 2) throw refuse("it is not of the form '<privileges> ON <schema>.<table or *>'");
  const [privileges, target] = parts as [string, string];
  if (!/^[A-Za-z0-9_$ ,()`]+$/.test(privileges)) throw refuse('the privileges contain characters a privilege list does not have');
  const words = privilegeWords(privileges);
  if (words.length === 0) throw refuse('it names no privilege');
  const refused = words.filter((w) => REFUSED_WORDS.has(w));
  if (refused.length) throw refuse(`${refused.join(', ')} cannot be granted through a policy`);
  const m = TARGET.exec(target.trim());
  if (!m) throw refuse('the target must be <schema>.* or <schema>.<table> (never *.* or a bare name)');
  const schema = unquote(m[2]!);
  if (!schemas.includes(schema)) throw refuse(`the schema "${schema}" is not one the resource covers (${schemas.join(', ')})`);
  const object = m[3] === '*' ? '*' : quoteMysqlIdent(unquote(m[3]!));
  const kind = m[1] ? `${m[1].toUpperCase()} ` : '';
  return { text: `${privileges.trim()} ON ${kind}${quoteMysqlIdent(schema)}.${object}`, schema, writes: words.some((w) => WRITE_WORDS.has(w)) };
}
