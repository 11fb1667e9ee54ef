// Table tests for the guardrails: [sql, 'ok' | the rule id that must refuse it], checked the same way everywhere.
import assert from 'node:assert/strict';
import type { Decision } from '../../src/inspect/index.js';

/** [sql, expected]: 'ok' for allowed, or the rule id that must refuse it. */
export type Case = readonly [string, string];

export function check(inspect: (sql: string) => Decision, [sql, expected]: Case): void {
  const d = inspect(sql);
  if (expected === 'ok') {
    assert.equal(d.allowed, true, `expected allowed: ${sql} (got ${d.rule}: ${d.message})`);
    assert.equal(d.rule, null);
    assert.equal(d.message, null);
  } else {
    assert.equal(d.allowed, false, `expected refusal by ${expected}: ${sql}`);
    assert.equal(d.rule, expected, `wrong rule for: ${sql}`);
    assert.ok(d.message?.startsWith(`airlock: statement refused by rule ${expected}: `), `message: ${d.message}`);
  }
}
