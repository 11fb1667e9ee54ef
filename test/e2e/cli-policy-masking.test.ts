// `airlock policy explain` shows what a role masks, each method on a sample, from a local file and through the API;
// `policy check` names a masking mistake with its line; the API's policy view never shows a hash key's reference.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startServerProcess, cli, type ServerProcess } from '../support/server-process.js';

const POLICY = `version: 1
principals:
  - { name: alice, groups: [eng] }
  - { name: bob, groups: [dba] }
resources:
  - { name: prod-orders, kind: postgres, address: "127.0.0.1:5432", labels: { env: prod } }
  - { name: prod-billing, kind: postgres, address: "127.0.0.1:5432", labels: { env: prod } }
roles:
  - name: support-read
    resources: { labels: { env: prod } }
    max_duration: 4h
    requestable_by: { groups: [eng] }
    approval: { approver_groups: [dba] }
    masking:
      predicates: refuse
      columns:
        - customers.phone
        - { column: customers.email, method: email }
        - { column: "*.card_number", method: partial, keep: 2 }
        - { label: "pii:customer_ref", method: hash, key: { env: CLI_MASKING_KEY_VARIABLE } }
        - { label: "pii:ssn", method: "null" }
  - name: plain-read
    resources: { names: [prod-orders] }
    max_duration: 1h
    requestable_by: { groups: [eng] }
    approval: { approver_groups: [dba] }
`;

const EXPECTED_COLUMNS = [
  { column: 'customers.phone', method: 'redact', example: 'alice@example.com → ****' },
  { column: 'customers.email', method: 'email', example: 'alice@example.com → ****@example.com' },
  { column: '*.card_number', method: 'partial', keep: 2, example: '4111111111111111 → ****11 (values of 4 characters or fewer: ****)' },
  { label: 'pii:customer_ref', method: 'hash', example: 'alice@example.com → h:… (keyed HMAC-SHA256, 24 hex digits; the same value always gives the same output)' },
  { label: 'pii:ssn', method: 'null', example: 'alice@example.com → NULL' },
];

let server: ServerProcess;
before(async () => {
  server = await startServerProcess({ policy: POLICY });
});
after(async () => {
  await server?.stop();
});

test('explain through the server: the masking of each entry in JSON, and null for a role without it', async () => {
  const r = await cli(server, server.adminToken, ['policy', 'explain', '--principal', 'alice', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const entries = r.json().entries as { resource: string; role: string; masking: unknown }[];
  const masked = entries.filter((e) => e.role === 'support-read');
  assert.deepEqual(masked.map((e) => e.resource), ['prod-orders', 'prod-billing']);
  for (const e of masked) assert.deepEqual(e.masking, { predicates: 'refuse', columns: EXPECTED_COLUMNS });
  assert.equal(entries.find((e) => e.role === 'plain-read')!.masking, null);
});

test('explain as text: each masking role once after the table, one line per column with its example', async () => {
  const r = await cli(server, server.adminToken, ['policy', 'explain', '--principal', 'alice']);
  assert.equal(r.code, 0, r.stderr);
  const out = r.stdout;
  assert.match(out, /^masking of role support-read \(prod-orders, prod-billing\); masked columns refused in WHERE, JOIN ON, ORDER BY…:$/m);
  assert.equal(out.match(/masking of role/g)!.length, 1, 'plain-read masks nothing; support-read is listed once');
  assert.match(out, /^ {2}customers\.email +email +alice@example\.com → \*\*\*\*@example\.com$/m);
  assert.match(out, /^ {2}\*\.card_number +partial, keep 2 +4111111111111111 → \*\*\*\*11 \(values of 4 characters or fewer: \*\*\*\*\)$/m);
  assert.match(out, /^ {2}label pii:customer_ref +hash +alice@example\.com → h:… \(keyed HMAC-SHA256/m);
  assert.match(out, /^ {2}label pii:ssn +null +alice@example\.com → NULL$/m);
});

test('explain --config reads a local file the same way, with no server', async () => {
  const file = join(server.dir, 'local.yaml');
  writeFileSync(file, POLICY);
  const r = await cli({ url: 'http://127.0.0.1:1' }, undefined, ['policy', 'explain', '--config', file, '--principal', 'alice', '--resource', 'prod-orders', '--json']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(r.json().entries.find((e: { role: string }) => e.role === 'support-read').masking, { predicates: 'refuse', columns: EXPECTED_COLUMNS });
});

test('policy check names a masking mistake on its line', async () => {
  const file = join(server.dir, 'bad-masking.yaml');
  writeFileSync(file, POLICY.replace('{ column: customers.email, method: email }', '{ column: email, method: email }'));
  const r = await cli(server, undefined, ['policy', 'check', file]);
  assert.equal(r.code, 1);
  assert.match(r.stdout, /bad-masking\.yaml:18:21: roles\[0\]\.masking\.columns\[1\]\.column: "email" names no table; write table\.column \(e\.g\. customers\.email\)/);
});

test('the policy as the API shows it lists masked columns with their methods, never where a hash key is kept', async () => {
  const res = await fetch(`${server.url}/api/v1/policy`, { headers: { authorization: `Bearer ${server.adminToken}` } });
  assert.equal(res.status, 200);
  const text = await res.text();
  assert.ok(!text.includes('CLI_MASKING_KEY_VARIABLE'), 'the key reference is hidden');
  const role = (JSON.parse(text) as { policy: { roles: { name: string; masking?: { rules: { label?: string; key?: unknown }[] } }[] } }).policy.roles.find((x) => x.name === 'support-read')!;
  assert.equal(role.masking!.rules.find((m) => m.label === 'pii:customer_ref')!.key, '(reference hidden)');
});
