// Which databases a resource covers: the policy's database/databases, validated with errors that say what to write.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parsePolicy, PolicyError, formatProblem } from '../../src/policy/load.js';
import { coveredDatabase, coveredDatabases, defaultDatabase } from '../../src/policy/databases.js';

const policyWith = (resource: string) => `version: 1\nresources:\n  - ${resource}\n`;

function problems(resource: string): string[] {
  try {
    parsePolicy(policyWith(resource), 'p.yaml');
  } catch (e) {
    assert.ok(e instanceof PolicyError, String(e));
    return e.problems.map(formatProblem);
  }
  assert.fail('expected the policy to be refused');
}

test('a resource covers its database, or every one in databases, compared byte for byte', () => {
  const one = parsePolicy(policyWith('{ name: ledger, kind: postgres, address: "db:5432", database: ledger }')).resource('ledger')!;
  assert.deepEqual(coveredDatabases(one), ['ledger']);
  assert.equal(coveredDatabase(one, undefined), 'ledger');
  for (const other of ['Ledger', '"ledger"', 'ledger ', 'ledger/', 'postgres', 'template1']) assert.equal(coveredDatabase(one, other), undefined, other);
  const many = parsePolicy(policyWith('{ name: lib, kind: postgres, address: "db:5432", databases: [books, ledger] }')).resource('lib')!;
  assert.equal(defaultDatabase(many), 'books');
  assert.deepEqual(coveredDatabases(many), ['books', 'ledger']);
  assert.equal(coveredDatabase(many, 'ledger'), 'ledger');
  const both = parsePolicy(policyWith('{ name: lib, kind: postgres, address: "db:5432", database: ledger, databases: [books, ledger] }')).resource('lib')!;
  assert.deepEqual(coveredDatabases(both), ['ledger', 'books'], 'the default comes first');
  const none = parsePolicy(policyWith('{ name: bare, kind: postgres, address: "db:5432" }')).resource('bare')!;
  assert.deepEqual(coveredDatabases(none), ['postgres'], 'a resource that names none covers only the server default');
});

test('databases that cannot work are refused with a sentence that says what to change', () => {
  assert.match(problems('{ name: r, kind: postgres, address: "db:5432", database: a, databases: [b, c] }').join('\n'), /the default database "a" is not in databases \(b, c\); add it there or remove database/);
  assert.match(problems('{ name: r, kind: postgres, address: "db:5432", databases: [b, b] }').join('\n'), /"b" is listed twice/);
  assert.match(problems('{ name: r, kind: postgres, address: "db:5432", databases: [] }').join('\n'), /list at least one database/);
  assert.match(problems('{ name: r, kind: postgres, address: "db:5432", database: "" }').join('\n'), /cannot be empty/);
  assert.match(problems(`{ name: r, kind: postgres, address: "db:5432", database: ${'x'.repeat(64)} }`).join('\n'), /at most 63 bytes/);
  assert.match(problems('{ name: r, kind: ssh, address: "h:22", databases: [a] }').join('\n'), /a ssh resource has no databases/);
});
