// A role's masking in the policy: the plain and the object form compile to MaskRules, and each mistake is reported on
// its line with a message that says what to write instead.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parsePolicy, formatProblem, PolicyError, type PolicyProblem } from '../../src/policy/load.js';

const HEAD = `version: 1
principals:
  - { name: alice, groups: [eng] }
  - { name: bob, groups: [dba] }
resources:
  - { name: orders, kind: postgres, address: "127.0.0.1:5432" }
roles:
  - name: read
    resources: { names: [orders] }
    max_duration: 1h
    requestable_by: { groups: [eng] }
    approval: { approver_groups: [dba] }
`;
// The masking block starts on this line.
const FIRST = HEAD.split('\n').length;

const policyWith = (masking: string) => HEAD + masking.replace(/^\n/, '');

function problemsOf(masking: string): PolicyProblem[] {
  try {
    parsePolicy(policyWith(masking), 'policy.yaml');
  } catch (e) {
    assert.ok(e instanceof PolicyError, `expected a PolicyError, got ${String(e)}`);
    return e.problems;
  }
  assert.fail('expected the policy to be refused');
}

/** Exactly one problem, at this line of the masking block (0: its first line), on this field. */
function oneProblem(masking: string, at: number, field: string, message: RegExp): void {
  const problems = problemsOf(masking);
  assert.equal(problems.length, 1, problems.map(formatProblem).join(' | '));
  const p = problems[0]!;
  assert.equal(p.field, field, formatProblem(p));
  assert.equal(p.line, FIRST + at, formatProblem(p));
  assert.match(p.message, message, formatProblem(p));
}

test('the plain form of older policies still loads: each column is masked with redact, predicates allowed', () => {
  const role = parsePolicy(policyWith('    masking: { columns: [customers.email, billing.cards.number] }\n'), 'p.yaml').role('read')!;
  assert.deepEqual(role.masking, {
    predicates: 'allow',
    rules: [
      { column: 'customers.email', method: 'redact' },
      { column: 'billing.cards.number', method: 'redact' },
    ],
  });
});

test('the object form: column, pattern or label, each method with its defaults, keys by reference, predicates refuse', () => {
  const role = parsePolicy(
    policyWith(`
    masking:
      predicates: refuse
      columns:
        - customers.phone
        - { column: customers.email, method: email }
        - { column: "*.card_number", method: partial }
        - { column: "billing.*.iban", method: partial, keep: 6 }
        - { column: customers.customer_ref, method: hash, key: { env: MASK_KEY } }
        - { column: customers.tax_id, method: hash, key: { file: /run/secrets/mask-key } }
        - { label: "pii:ssn", method: "null" }
        - { label: "pii:name" }
`),
    'p.yaml',
  ).role('read')!;
  assert.deepEqual(role.masking, {
    predicates: 'refuse',
    rules: [
      { column: 'customers.phone', method: 'redact' },
      { column: 'customers.email', method: 'email' },
      { column: '*.card_number', method: 'partial', keep: 4 },
      { column: 'billing.*.iban', method: 'partial', keep: 6 },
      { column: 'customers.customer_ref', method: 'hash', key: { env: 'MASK_KEY' } },
      { column: 'customers.tax_id', method: 'hash', key: { file: '/run/secrets/mask-key' } },
      { label: 'pii:ssn', method: 'null' },
      { label: 'pii:name', method: 'redact' },
    ],
  });
});

test('no masking, or masking with no columns, loads', () => {
  assert.equal(parsePolicy(HEAD, 'p.yaml').role('read')!.masking, undefined);
  assert.deepEqual(parsePolicy(policyWith('    masking: {}\n'), 'p.yaml').role('read')!.masking, { predicates: 'allow', rules: [] });
});

test('a column without a table says what to write', () => {
  oneProblem('    masking: { columns: [email] }\n', 0, 'roles[0].masking.columns[0]', /"email" names no table; write table\.column \(e\.g\. customers\.email\), schema\.table\.column, or \*\.email/);
  oneProblem('    masking:\n      columns:\n        - { column: email, method: email }\n', 2, 'roles[0].masking.columns[0].column', /"email" names no table/);
});

test('malformed column names and patterns are refused', () => {
  oneProblem('    masking: { columns: [a.b.c.d] }\n', 0, 'roles[0].masking.columns[0]', /more than three parts/);
  oneProblem('    masking: { columns: ["customers."] }\n', 0, 'roles[0].masking.columns[0]', /empty name/);
  oneProblem('    masking: { columns: ["*.e*"] }\n', 0, 'roles[0].masking.columns[0]', /\* stands for a whole name/);
  oneProblem('    masking: { columns: [\'"Customers".email\'] }\n', 0, 'roles[0].masking.columns[0]', /without quotes/);
  oneProblem('    masking: { columns: [42] }\n', 0, 'roles[0].masking.columns[0]', /write table\.column, or \{ column: table\.column, method: … \}/);
});

test('method, keep and key are checked against each other', () => {
  oneProblem('    masking:\n      columns:\n        - { column: t.c, method: scramble }\n', 2, 'roles[0].masking.columns[0].method', /method is one of redact, partial, hash, email, null/);
  oneProblem('    masking:\n      columns:\n        - { column: t.c, method: email, keep: 4 }\n', 2, 'roles[0].masking.columns[0].keep', /keep is read only with method: partial, not email/);
  oneProblem('    masking:\n      columns:\n        - { column: t.c, keep: 2 }\n', 2, 'roles[0].masking.columns[0].keep', /not redact/);
  oneProblem('    masking:\n      columns:\n        - { column: t.c, method: partial, keep: 0 }\n', 2, 'roles[0].masking.columns[0].keep', /keep is 1 to 64/);
  oneProblem('    masking:\n      columns:\n        - { column: t.c, method: partial, keep: 65 }\n', 2, 'roles[0].masking.columns[0].keep', /keep is 1 to 64/);
  oneProblem('    masking:\n      columns:\n        - { column: t.c, method: hash }\n', 2, 'roles[0].masking.columns[0].method', /method hash needs key: \{ env: VARIABLE \} or \{ file: \/path\/to\/key \}/);
  oneProblem('    masking:\n      columns:\n        - { column: t.c, method: redact, key: { env: K } }\n', 2, 'roles[0].masking.columns[0].key', /key is read only with method: hash/);
});

test('an inline key is refused without being echoed', () => {
  const problems = problemsOf('    masking:\n      columns:\n        - { column: t.c, method: hash, key: "s3cret-inline-key" }\n');
  assert.equal(problems.length, 1, problems.map(formatProblem).join(' | '));
  assert.equal(problems[0]!.field, 'roles[0].masking.columns[0].key');
  assert.match(problems[0]!.message, /an inline secret is not allowed here; write a reference/);
  assert.ok(!JSON.stringify(problems).includes('s3cret-inline-key'));
});

test('column and label: exactly one; unknown fields and predicates values are named', () => {
  oneProblem('    masking:\n      columns:\n        - { method: email }\n', 2, 'roles[0].masking.columns[0]', /name what to mask: column: table\.column, or label: pii:email/);
  oneProblem('    masking:\n      columns:\n        - { column: t.c, label: "pii:x" }\n', 2, 'roles[0].masking.columns[0].label', /column: or label:, not both/);
  oneProblem('    masking:\n      columns:\n        - { label: "pii email" }\n', 2, 'roles[0].masking.columns[0].label', /a label is one word/);
  const typo = problemsOf('    masking:\n      columns:\n        - { colum: t.c }\n').map((p) => `${p.line - FIRST} ${p.field}: ${p.message}`);
  assert.deepEqual(typo, ['2 roles[0].masking.columns[0].colum: unknown field "colum"', '2 roles[0].masking.columns[0]: name what to mask: column: table.column, or label: pii:email']);
  oneProblem('    masking: { predicates: hide, columns: [t.c] }\n', 0, 'roles[0].masking.predicates', /predicates is allow or refuse/);
  oneProblem('    masking: { column: [t.c] }\n', 0, 'roles[0].masking.column', /unknown field "column"/);
});

test('the same column or label twice is refused at the second', () => {
  oneProblem('    masking:\n      columns:\n        - t.c\n        - { column: t.c, method: email }\n', 3, 'roles[0].masking.columns[1]', /t\.c is listed twice \(first at columns\[0\]\)/);
  oneProblem('    masking:\n      columns:\n        - { label: "pii:x" }\n        - { label: "pii:x", method: "null" }\n', 3, 'roles[0].masking.columns[1]', /label pii:x is listed twice/);
});
