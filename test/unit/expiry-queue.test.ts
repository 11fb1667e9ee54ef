// The expiry scheduler's min-heap: whatever goes in, pops come out in time order (property tests with fast-check).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DueQueue } from '../../src/access/expiry.js';

type Op = { push: number } | { pop: true };

const due = (at: number, i: number) => ({ at, kind: i % 2 === 0 ? ('grant' as const) : ('request' as const), id: `x${i}` });

test('pops come out sorted by time for any input', () => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: -1e6, max: 1e6 }), { maxLength: 300 }), (ats) => {
      const q = new DueQueue();
      ats.forEach((at, i) => q.push(due(at, i)));
      assert.equal(q.size, ats.length);
      const out: number[] = [];
      for (let d = q.pop(); d !== undefined; d = q.pop()) out.push(d.at);
      assert.deepEqual(out, [...ats].sort((a, b) => a - b));
      assert.equal(q.size, 0);
      assert.equal(q.peek(), undefined);
    }),
    { numRuns: 500 },
  );
});

test('every item comes out exactly once, duplicates of the same time included', () => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 0, max: 5 }), { maxLength: 100 }), (ats) => {
      const q = new DueQueue();
      ats.forEach((at, i) => q.push(due(at, i)));
      const ids: string[] = [];
      for (let d = q.pop(); d !== undefined; d = q.pop()) ids.push(d.id);
      assert.deepEqual([...ids].sort(), ats.map((_, i) => `x${i}`).sort());
    }),
  );
});

test('interleaved pushes and pops behave like a sorted list; peek is always the earliest', () => {
  const op: fc.Arbitrary<Op> = fc.oneof(fc.record({ push: fc.integer({ min: 0, max: 1000 }) }), fc.constant({ pop: true as const }));
  fc.assert(
    fc.property(fc.array(op, { maxLength: 400 }), (ops) => {
      const q = new DueQueue();
      const model: number[] = [];
      ops.forEach((o, i) => {
        if ('push' in o) {
          q.push(due(o.push, i));
          model.push(o.push);
          model.sort((a, b) => a - b);
        } else {
          assert.equal(q.pop()?.at, model.shift());
        }
        assert.equal(q.size, model.length);
        assert.equal(q.peek()?.at, model[0]);
      });
    }),
    { numRuns: 300 },
  );
});

test('clear empties the queue', () => {
  const q = new DueQueue();
  for (let i = 0; i < 10; i++) q.push(due(10 - i, i));
  q.clear();
  assert.equal(q.size, 0);
  assert.equal(q.pop(), undefined);
  q.push(due(3, 0));
  assert.equal(q.peek()?.at, 3);
});
