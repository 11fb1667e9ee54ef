// Upstream credential references from the policy ({ env } or { file }) and a Secret wrapper that cannot be logged by accident.
import { readFileSync, statSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { inspect } from 'node:util';
import { AirlockError } from '../domain/errors.js';

/** Where an upstream secret lives. Inline values are refused so a policy file can be shared and reviewed without leaking anything. */
export type SecretRef = { readonly env: string } | { readonly file: string };

export interface ResolveSecretOptions {
  /** The environment to read `{ env }` references from; process.env by default. */
  env?: NodeJS.ProcessEnv;
  /** Relative `{ file }` paths are resolved against this directory (e.g. the policy file's); the working directory by default. */
  baseDir?: string;
}

/** A secret file is a password or a key, never large: the bound stops a reference to /dev/zero or a log file from eating memory. */
const MAX_SECRET_FILE_BYTES = 64 * 1024;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const REDACTED = '[secret]';

/**
 * A secret value that prints as '[secret]' through String(), template literals, JSON.stringify and util.inspect,
 * so it can travel inside config objects and error details without leaking. Only reveal() gives the value.
 */
export class Secret {
  // A private field: invisible to Object.keys, JSON, structuredClone's enumeration and inspect's showHidden.
  readonly #value: string;
  constructor(value: string) {
    this.#value = value;
  }
  reveal(): string {
    return this.#value;
  }
  toString(): string {
    return REDACTED;
  }
  toJSON(): string {
    return REDACTED;
  }
  [Symbol.toPrimitive](): string {
    return REDACTED;
  }
  [inspect.custom](): string {
    return REDACTED;
  }
}

function bad(message: string, details?: Record<string, unknown>): AirlockError {
  return new AirlockError('AIRLOCK_BAD_INPUT', message, details);
}

/**
 * Checks the shape of a reference as it came from YAML. Error messages name the offending keys, never their values,
 * because a mistaken `{ value: 'hunter2' }` must not end up in a log through the error that refuses it.
 */
export function parseSecretRef(input: unknown): SecretRef {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw bad("a secret reference must be an object: { env: 'VAR' } or { file: '/path' }");
  }
  const keys = Object.keys(input);
  if (keys.includes('value')) {
    throw bad("inline secret values are not allowed; put the secret in an environment variable ({ env: 'VAR' }) or a file ({ file: '/path' })");
  }
  const unknown = keys.filter((k) => k !== 'env' && k !== 'file');
  if (unknown.length > 0) throw bad(`a secret reference has unknown keys: ${unknown.join(', ')}; use { env: 'VAR' } or { file: '/path' }`);
  const { env, file } = input as { env?: unknown; file?: unknown };
  if (env !== undefined && file !== undefined) throw bad('a secret reference names both env and file; use one');
  if (env !== undefined) {
    if (typeof env !== 'string' || !ENV_NAME.test(env)) throw bad('a secret reference { env } must name an environment variable, e.g. PGPASSWORD');
    return { env };
  }
  if (file !== undefined) {
    if (typeof file !== 'string' || file.length === 0 || file.includes('\0')) throw bad('a secret reference { file } must be a path');
    return { file };
  }
  throw bad("a secret reference must be { env: 'VAR' } or { file: '/path' }");
}

function readEnv(name: string, env: NodeJS.ProcessEnv): string {
  const value = env[name];
  if (value === undefined) throw bad(`the secret environment variable ${name} is not set`, { env: name });
  if (value.length === 0) throw bad(`the secret environment variable ${name} is empty`, { env: name });
  return value;
}

function readSecretFile(path: string): string {
  let raw: string;
  try {
    const st = statSync(path);
    if (!st.isFile()) throw bad(`the secret file ${path} is not a regular file`, { file: path });
    if (st.size > MAX_SECRET_FILE_BYTES) throw bad(`the secret file ${path} is larger than ${MAX_SECRET_FILE_BYTES} bytes; is it the right file?`, { file: path });
    raw = readFileSync(path, 'utf8');
  } catch (e) {
    if (e instanceof AirlockError) throw e;
    // Only the errno code: Node's messages are safe too, but the code is all an operator needs and cannot carry content.
    const code = (e as NodeJS.ErrnoException).code ?? 'unknown error';
    throw bad(`the secret file ${path} cannot be read (${code})`, { file: path, errno: code });
  }
  // Editors and `echo` add one newline; it is never part of the secret. Other whitespace might be, so it stays.
  const value = raw.replace(/\r?\n$/, '');
  if (value.length === 0) throw bad(`the secret file ${path} is empty`, { file: path });
  return value;
}

/** Reads the secret a reference points at. Throws AIRLOCK_BAD_INPUT naming the variable or file, never the value. */
export function resolveSecret(ref: SecretRef, opts: ResolveSecretOptions = {}): string {
  const checked = parseSecretRef(ref);
  if ('env' in checked) return readEnv(checked.env, opts.env ?? process.env);
  const path = isAbsolute(checked.file) ? checked.file : resolve(opts.baseDir ?? process.cwd(), checked.file);
  return readSecretFile(path);
}

/** resolveSecret, wrapped: the form to keep around in long-lived objects. */
export function loadSecret(ref: SecretRef, opts: ResolveSecretOptions = {}): Secret {
  return new Secret(resolveSecret(ref, opts));
}

/** Where a reference points, for logs and error messages: 'env:PGPASSWORD' or 'file:/run/secrets/pg'. */
export function describeSecretRef(ref: SecretRef): string {
  return 'env' in ref ? `env:${ref.env}` : `file:${ref.file}`;
}
