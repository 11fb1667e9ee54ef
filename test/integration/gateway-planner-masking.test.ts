// The planner and column masking: a role with masking is refused on a front-end that cannot mask; on one that can, the
// session plan carries the role's rules with each hash key read, and a key that cannot be used refuses the session
// naming where the key was looked for, never what it holds.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeHarness } from '../support/harness.js';
import { MASKING_FRONT_ENDS, makeGatewayAccess, sessionMaskingFor } from '../../src/gateway/core/planner.js';
import { makePgCredentials } from '../../src/gateway/pg-credentials.js';
import { isAirlockError } from '../../src/domain/errors.js';
import { maskText } from '../../src/domain/mask-values.js';
import type { GatewayAccess } from '../../src/gateway/types.js';

const dir = mkdtempSync(join(tmpdir(), 'airlock-planner-masking-'));
const KEY_FILE = join(dir, 'mask.key');
const KEY = 'planner-masking-key-0123456789abcdef';

const policy = `
version: 1
principals:
  - { name: alice, groups: [engineers] }
  - { name: bob, groups: [dba] }
resources:
  - { name: pg-db, kind: postgres, address: "127.0.0.1:5432", database: orders, credential: { username: postgres, password: { env: PLANNER_MASK_PW }, mode: injected } }
roles:
  - name: masked
    resources: { names: [pg-db] }
    max_duration: 1h
    requestable_by: { groups: [engineers] }
    approval: { approver_groups: [dba] }
    masking:
      predicates: refuse
      columns:
        - customers.phone
        - { column: "*.card_number", method: partial, keep: 2 }
        - { column: customers.email, method: email }
        - { label: "pii:ref", method: hash, key: { env: PLANNER_MASK_KEY } }
        - { column: customers.tax_id, method: hash, key: { file: ${JSON.stringify(KEY_FILE)} } }
  - name: bad-env
    resources: { names: [pg-db] }
    max_duration: 1h
    requestable_by: { groups: [engineers] }
    approval: { approver_groups: [dba] }
    masking: { columns: [{ column: t.c, method: hash, key: { env: PLANNER_MASK_UNSET } }] }
  - name: short-key
    resources: { names: [pg-db] }
    max_duration: 1h
    requestable_by: { groups: [engineers] }
    approval: { approver_groups: [dba] }
    masking: { columns: [{ column: t.c, method: hash, key: { env: PLANNER_MASK_SHORT } }] }
  - name: empty
    resources: { names: [pg-db] }
    max_duration: 1h
    requestable_by: { groups: [engineers] }
    approval: { approver_groups: [dba] }
    masking: { columns: [] }
`;

let h: Awaited<ReturnType<typeof makeHarness>>;
let pgCreds: ReturnType<typeof makePgCredentials>;
let ga: GatewayAccess;

before(async () => {
  process.env.PLANNER_MASK_PW = 'unused';
  process.env.PLANNER_MASK_KEY = KEY;
  process.env.PLANNER_MASK_SHORT = 'short-secret';
  delete process.env.PLANNER_MASK_UNSET;
  writeFileSync(KEY_FILE, 'file-key-0123456789abcdef-0001\n');
  h = await makeHarness('sqlite', { policy });
  pgCreds = makePgCredentials({ access: h.access, dataDir: dir, log: { info() {}, warn() {}, error() {} } as never });
  ga = makeGatewayAccess({ access: h.access, credentials: { postgres: pgCreds } });
});

after(async () => {
  await pgCreds?.close();
  await h?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function grant(role: string): Promise<string> {
  const req = await h.access.requests.create(h.caller('alice'), { resource: 'pg-db', role, duration_seconds: 1800, reason: 'masking planner test' });
  const out = await h.access.reviews.approve(h.caller('bob'), req.id, 'ok');
  return out.grant_id!;
}

async function refusal(p: Promise<unknown>): Promise<{ code: string; message: string; details: unknown }> {
  try {
    await p;
  } catch (e) {
    assert.ok(isAirlockError(e), String(e));
    return { code: e.code, message: e.message, details: e.details };
  }
  assert.fail('the session was planned');
}

/** With the postgres front-end counted as one that masks (it is: src/gateway/postgres/masking.ts), for the length of fn. */
async function whilePostgresMasks<T>(fn: () => Promise<T>): Promise<T> {
  assert.ok(MASKING_FRONT_ENDS.has('postgres'));
  return fn();
}

/** With the postgres front-end counted as one that does not mask, for the length of fn. */
async function whilePostgresDoesNotMask<T>(fn: () => Promise<T>): Promise<T> {
  MASKING_FRONT_ENDS.delete('postgres');
  try {
    return await fn();
  } finally {
    MASKING_FRONT_ENDS.add('postgres');
  }
}

test('a front-end that does not mask: a role with masking is refused, naming the front-end and the columns', async () => {
  const id = await grant('masked');
  const alice = h.policy.principal('alice')!;
  const r = await whilePostgresDoesNotMask(() => refusal(ga.planSession(alice, 'pg-db', undefined, 'postgres')));
  assert.equal(r.code, 'AIRLOCK_MASKING_UNSUPPORTED');
  assert.match(r.message, /^role "masked" masks customers\.phone, \*\.card_number, customers\.email, label pii:ref, customers\.tax_id, and this front-end \(postgres\) cannot mask result columns yet, so the session was refused rather than show them unmasked/);
  await h.access.grants.revoke(h.caller('alice'), id, 'done');
});

test('on a front-end that masks, the plan carries each rule with its method, keep and key read', async () => {
  const id = await grant('masked');
  const alice = h.policy.principal('alice')!;
  const plan = await whilePostgresMasks(() => ga.planSession(alice, 'pg-db', undefined, 'postgres'));
  const m = plan.masking!;
  assert.equal(m.role, 'masked');
  assert.equal(m.predicates, 'refuse');
  assert.deepEqual(
    m.rules.map((r) => ({ rule: r.resolved.rule, method: r.resolved.method, keep: r.resolved.keep, key: r.resolved.key?.toString() ?? null })),
    [
      { rule: 'customers.phone', method: 'redact', keep: 0, key: null },
      { rule: '*.card_number', method: 'partial', keep: 2, key: null },
      { rule: 'customers.email', method: 'email', keep: 0, key: null },
      { rule: 'label pii:ref', method: 'hash', keep: 0, key: KEY },
      { rule: 'customers.tax_id', method: 'hash', keep: 0, key: 'file-key-0123456789abcdef-0001' },
    ],
  );
  assert.equal(m.rules[3]!.label, 'pii:ref', 'the rule as compiled stays beside its resolved mask');
  assert.equal(maskText('4111111111111111', m.rules[1]!.resolved), '****11');
  assert.ok(!JSON.stringify(m.rules.map((r) => r.key)).includes(KEY), 'the rule keeps the reference, not the key');

  // The key file is read for each session: a rotated key applies to the next one.
  const before = maskText('x', m.rules[4]!.resolved);
  writeFileSync(KEY_FILE, 'file-key-0123456789abcdef-0002\n');
  const next = await whilePostgresMasks(() => ga.planSession(alice, 'pg-db', undefined, 'postgres'));
  assert.notEqual(maskText('x', next.masking!.rules[4]!.resolved), before);
  await h.access.grants.revoke(h.caller('alice'), id, 'done');
});

test('a hash key that is not set, or too short to be safe, refuses the session naming where it was looked for', async () => {
  const alice = h.policy.principal('alice')!;
  let id = await grant('bad-env');
  let r = await whilePostgresMasks(() => refusal(ga.planSession(alice, 'pg-db', undefined, 'postgres')));
  assert.equal(r.code, 'AIRLOCK_BAD_INPUT');
  assert.match(r.message, /role "bad-env" hashes t\.c with the key in env:PLANNER_MASK_UNSET, which cannot be used: the secret environment variable PLANNER_MASK_UNSET is not set/);
  await h.access.grants.revoke(h.caller('alice'), id, 'done');

  id = await grant('short-key');
  r = await whilePostgresMasks(() => refusal(ga.planSession(alice, 'pg-db', undefined, 'postgres')));
  assert.equal(r.code, 'AIRLOCK_BAD_INPUT');
  assert.match(r.message, /the key in env:PLANNER_MASK_SHORT, which is shorter than 16 bytes/);
  assert.ok(!r.message.includes('short-secret') && !JSON.stringify(r.details).includes('short-secret'), 'the key itself is never shown');
  await h.access.grants.revoke(h.caller('alice'), id, 'done');
});

test('a key file that cannot be read names the file', () => {
  const role = { ...h.policy.role('masked')!, masking: { predicates: 'allow' as const, rules: [{ column: 't.c', method: 'hash' as const, key: { file: join(dir, 'missing.key') } }] } };
  assert.throws(() => sessionMaskingFor(role), (e: unknown) => isAirlockError(e) && e.code === 'AIRLOCK_BAD_INPUT' && e.message.includes(`file:${join(dir, 'missing.key')}`) && /ENOENT/.test(e.message));
});

test('a role with an empty masking list, or none, plans a session with masking null on any front-end', async () => {
  const id = await grant('empty');
  const plan = await ga.planSession(h.policy.principal('alice')!, 'pg-db', undefined, 'postgres');
  assert.equal(plan.masking, null);
  await h.access.grants.revoke(h.caller('alice'), id, 'done');
  assert.equal(sessionMaskingFor({ ...h.policy.role('empty')!, masking: undefined }), null);
});
