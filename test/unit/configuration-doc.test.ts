// docs/configuration.md lists every flag the CLI has, every variable the code reads, and the server's defaults;
// every flag of `airlock server` has a variable.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { buildProgram } from '../../src/cli/main.js';
import { ERRORS } from '../../src/domain/errors.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const doc = readFileSync(join(ROOT, 'docs', 'configuration.md'), 'utf8');
const errorsDoc = readFileSync(join(ROOT, 'docs', 'errors.md'), 'utf8');

function commands(c: Command, path: string[] = []): { path: string; cmd: Command }[] {
  return [{ path: path.join(' '), cmd: c }, ...c.commands.flatMap((s) => commands(s, [...path, s.name()]))];
}

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? sources(p) : /\.(ts|js)$/.test(n) ? [p] : [];
  });
}

/** The row of the server table that documents this flag. */
function serverRow(flag: string): string | undefined {
  return doc.split('\n').find((l) => l.startsWith(`| \`${flag} `) || l.startsWith(`| \`${flag}\``));
}

test('every flag of every command appears in docs/configuration.md', () => {
  const missing: string[] = [];
  for (const { path, cmd } of commands(buildProgram())) {
    for (const o of cmd.options) if (o.long && !doc.includes(`\`${o.long}`)) missing.push(`${path || 'airlock'} ${o.long}`);
  }
  assert.deepEqual(missing, []);
});

test('every flag of airlock server has an environment variable, documented in its row with its default', () => {
  const server = buildProgram().commands.find((c) => c.name() === 'server')!;
  const problems: string[] = [];
  for (const o of server.options) {
    if (o.long === '--json') continue;
    if (!o.envVar) {
      problems.push(`${o.long} has no environment variable`);
      continue;
    }
    const row = serverRow(o.long!);
    if (!row) problems.push(`${o.long} has no row`);
    else {
      if (!row.includes(`\`${o.envVar}\``)) problems.push(`${o.long}'s row does not name ${o.envVar}`);
      if (o.defaultValue !== undefined && !row.includes(`\`${String(o.defaultValue)}\``)) problems.push(`${o.long}'s row does not give its default ${String(o.defaultValue)}`);
    }
  }
  assert.deepEqual(problems, []);
});

test('every AIRLOCK_ variable the code reads is in docs/configuration.md', () => {
  const names = new Set<string>();
  for (const file of [...sources(join(ROOT, 'src')), ...sources(join(ROOT, 'bin')), ...sources(join(ROOT, 'scripts')), ...sources(join(ROOT, 'test', 'support'))]) {
    for (const m of readFileSync(file, 'utf8').matchAll(/\bAIRLOCK_[A-Z0-9_]+\b/g)) names.add(m[0]);
  }
  // Error codes share the prefix: those in the catalog, and the CLI's own codes that docs/errors.md lists.
  const codes = (n: string) => n in ERRORS || errorsDoc.includes(`\`${n}\``);
  const variables = [...names].filter((n) => !codes(n) && !/^AIRLOCK_WEB_PG_PASSWORD$/.test(n));
  assert.ok(variables.includes('AIRLOCK_STORE_URL') && variables.includes('AIRLOCK_LOG_LEVEL'), 'the scan finds the variables the server reads');
  assert.deepEqual(variables.filter((n) => !doc.includes(`\`${n}\``)), []);
});

test('every error code a user can see in CLI output is in docs/errors.md', () => {
  const cliCodes = new Set<string>();
  for (const file of sources(join(ROOT, 'src', 'cli'))) {
    for (const m of readFileSync(file, 'utf8').matchAll(/(?:code:[^,\n]*?|\? |: )'(AIRLOCK_[A-Z_]+)'/g)) cliCodes.add(m[1]!);
  }
  assert.ok(cliCodes.has('AIRLOCK_USAGE') && cliCodes.has('AIRLOCK_TLS_UNTRUSTED'), 'the scan finds the codes the CLI makes itself');
  assert.deepEqual([...cliCodes].filter((c) => !errorsDoc.includes(`\`${c}\``)), []);
});
