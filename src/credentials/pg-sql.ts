// SQL text helpers for role management, where PostgreSQL takes no bind parameters: quoting, name checks, SCRAM verifiers.
import { randomBytes } from 'node:crypto';
import { AirlockError } from '../domain/errors.js';
import { postgresVerifierText, scramVerifierAsync, SCRAM_ITERATIONS } from '../domain/scram.js';

/** PostgreSQL truncates identifiers to NAMEDATALEN-1 bytes; a truncated role name would silently point at another role. */
export const MAX_IDENTIFIER_BYTES = 63;

/** Quotes an identifier the way PostgreSQL's quote_ident does, always quoting so case and keywords never matter. */
export function quoteIdent(name: string): string {
  if (name.length === 0 || name.includes('\0')) throw new AirlockError('AIRLOCK_BAD_INPUT', 'an SQL identifier must be non-empty text');
  if (Buffer.byteLength(name, 'utf8') > MAX_IDENTIFIER_BYTES) {
    throw new AirlockError('AIRLOCK_BAD_INPUT', `the SQL identifier "${name.slice(0, 20)}…" is longer than ${MAX_IDENTIFIER_BYTES} bytes`);
  }
  return `"${name.replace(/"/g, '""')}"`;
}

/**
 * Quotes a string literal like PostgreSQL's quote_literal: quotes doubled, and with backslashes the E'' form,
 * so the result means the same whatever standard_conforming_strings is set to.
 */
export function quoteLiteral(value: string): string {
  if (value.includes('\0')) throw new AirlockError('AIRLOCK_BAD_INPUT', 'an SQL literal cannot contain a NUL character');
  const quoted = value.replace(/'/g, "''");
  return value.includes('\\') ? `E'${quoted.replace(/\\/g, '\\\\')}'` : `'${quoted}'`;
}

/** A role name as written in pg_roles, with nothing to quote: what `member_of` accepts. */
const PLAIN_ROLE = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function checkPlainRoleName(name: string, what: string): string {
  if (!PLAIN_ROLE.test(name) || name.length > MAX_IDENTIFIER_BYTES) {
    throw new AirlockError('AIRLOCK_BAD_INPUT', `${what} "${name.slice(0, 70)}" is not a plain role name (letters, digits and _)`);
  }
  return name;
}

/**
 * Checks a GRANT body from the policy ('SELECT ON ALL TABLES IN SCHEMA public'). The policy is admin-written, but a
 * body is pasted between GRANT and TO <role>, so anything that could end the statement or comment out the TO clause
 * (and so grant to someone else) is refused. Role memberships go through member_of, which is checked by name.
 */
export function checkGrantBody(body: string): string {
  const text = body.trim();
  const refuse = (why: string) => new AirlockError('AIRLOCK_BAD_INPUT', `the grant "${text.slice(0, 120)}" is refused: ${why}`);
  if (text.length === 0) throw refuse('it is empty');
  if (text.includes(';')) throw refuse("it contains ';'");
  if (text.includes('--') || text.includes('/*')) throw refuse('it contains an SQL comment');
  if (/[\0\r\n]/.test(text)) throw refuse('it contains a line break or NUL');
  if (!/\sON\s/i.test(text)) throw refuse("it is not of the form '<privileges> ON <objects>' (role memberships belong in member_of)");
  if (/\sTO\s/i.test(` ${text} `) || /\bGRANTED\s+BY\b/i.test(text)) throw refuse('it names its own grantee or grantor');
  return text;
}

/** Privileges that change data or schema; `ALL` includes them. */
const WRITE_PRIVILEGES = new Set(['INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'CREATE', 'TRIGGER', 'MAINTAIN', 'ALL']);

/** Whether a checked grant body hands out a privilege that writes: a read_only role must not carry one. */
export function grantWrites(body: string): boolean {
  const privileges = body.split(/\sON\s/i)[0] ?? '';
  return privileges.split(/[\s,()]+/).some((word) => WRITE_PRIVILEGES.has(word.toUpperCase()));
}

/** 32 random bytes as base64url: 256 bits, and nothing a connection string or literal would need to escape. */
export function generatePassword(): string {
  return randomBytes(32).toString('base64url');
}

/**
 * The SCRAM-SHA-256 verifier PostgreSQL stores for a password, computed here like psql's \password does,
 * so CREATE ROLE never carries the plaintext: a server with log_statement = 'ddl' logs only the verifier.
 */
export async function scramVerifier(password: string, iterations = SCRAM_ITERATIONS): Promise<string> {
  return postgresVerifierText(await scramVerifierAsync(password, randomBytes(16), iterations));
}
