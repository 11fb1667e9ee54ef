// Usage errors through the real `airlock` binary, as a user or a script meets them: JSON only with --json, a pointer
// to the failing command's help, a duration message that shows what a duration looks like, and a policy file's own
// principal count. No server answers at the address given: every case must be settled before anything is sent.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { cli, ROOT } from '../support/server-process.js';

const nowhere = { url: 'http://127.0.0.1:9' };
const token = 'alk_not-a-real-token';

// `text`: what stderr shows without --json (default: the detail, then the pointer to the help).
const usageCases: { what: string; args: string[]; help: string; detail: RegExp; text?: RegExp }[] = [
  { what: 'an unknown option', args: ['request', 'prod-orders', '--role', 'read', '--for', '1h', '--bogus'], help: 'airlock request --help', detail: /unknown option '--bogus'/ },
  { what: 'a missing argument', args: ['approve'], help: 'airlock approve --help', detail: /missing required argument 'id'/ },
  { what: 'a missing required option', args: ['request', 'prod-orders', '--for', '1h'], help: 'airlock request --help', detail: /required option '--role <role>' not specified/ },
  { what: 'an unknown command', args: ['frobnicate'], help: 'airlock --help', detail: /unknown command 'frobnicate'/ },
  { what: 'a subcommand missing', args: ['token'], help: 'airlock token --help', detail: /airlock token needs a subcommand/, text: /^Usage: airlock token \[options\] \[command\][^]*create \[options\]/ },
  { what: 'an option value missing in a sub-subcommand', args: ['token', 'list', '--principal'], help: 'airlock token list --help', detail: /argument missing/ },
];

for (const c of usageCases) {
  test(`${c.what}: with --json only a JSON error (exit 2) naming ${c.help}; without, text pointing there`, async () => {
    const j = await cli(nowhere, token, [...c.args, '--json']);
    assert.equal(j.code, 2, j.stderr);
    assert.equal(j.stderr, '', 'nothing but JSON: stderr stays empty');
    const err = j.json().error;
    assert.equal(err.code, 'AIRLOCK_USAGE');
    assert.match(err.detail, c.detail);
    assert.equal(err.help, c.help);

    const t = await cli(nowhere, token, c.args);
    assert.equal(t.code, 2);
    assert.equal(t.stdout, '');
    if (c.text) assert.match(t.stderr, c.text);
    else {
      assert.match(t.stderr, c.detail);
      assert.ok(t.stderr.includes(`(see: ${c.help})`), t.stderr);
    }
  });
}

test('--help with --json is JSON too', async () => {
  const r = await cli(nowhere, token, ['request', '--help', '--json']);
  assert.equal(r.code, 0);
  assert.equal(r.stderr, '');
  assert.match(r.json().help, /Usage: airlock request \[options\] <resource>/);
});

test('a bad --for or --ttl says what a duration looks like, before anything is sent', async () => {
  for (const args of [
    ['request', 'prod-orders', '--role', 'read', '--for', '30x', '--reason', 'OPS-1'],
    ['token', 'create', '--principal', 'alice', '--ttl', '5x'],
  ]) {
    const j = await cli(nowhere, token, [...args, '--json']);
    assert.equal(j.code, 2, j.stdout + j.stderr);
    assert.equal(j.stderr, '');
    const detail = j.json().error.detail as string;
    assert.match(detail, /"(30x|5x)" is not a duration; write a number with a unit, e.g. 30m, 2h, 1h30m/);
    assert.doesNotMatch(detail, /body/i);
    const t = await cli(nowhere, token, args);
    assert.equal(t.code, 2);
    assert.match(t.stderr, /is not a duration; write a number with a unit, e.g. 30m, 2h, 1h30m/);
  }
});

test('policy check counts the principals the file names, not the built-in admin', async () => {
  const file = join(ROOT, 'examples', 'airlock.yaml');
  const named = (parse(readFileSync(file, 'utf8')) as { principals: unknown[] }).principals.length;
  const j = await cli(nowhere, undefined, ['policy', 'check', file, '--json']);
  assert.equal(j.code, 0, j.stderr);
  assert.equal(j.json().principals, named);
  const t = await cli(nowhere, undefined, ['policy', 'check', file]);
  assert.equal(t.code, 0);
  assert.match(t.stdout, new RegExp(`: ok \\(${named} principals, `));
});
