// The query runner's answers as the console's models: each outcome from the wire, with defaults for odd fields.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeResultPage, makeRunOutcome } from '../../web/src/api/query-models.js';
import { api } from '../../web/src/api/urls.js';

const page = {
  result_id: 'qr_1', columns: [{ name: 'id', type: 'int4' }, { name: 'note', type: 'text' }], rows: [['1', null], ['2', 'x']], offset: 0, row_count: 250,
  more: true, command: 'SELECT 250', truncated: true, truncated_by: 'max_rows', max_rows: 250, elapsed_ms: 12,
};

test('a result becomes a page with its columns, NULLs, truncation and paging', () => {
  const o = makeRunOutcome({ status: 'ok', ...page });
  assert.equal(o.status, 'ok');
  if (o.status !== 'ok') return;
  assert.deepEqual(o.page.columns, [{ name: 'id', type: 'int4' }, { name: 'note', type: 'text' }]);
  assert.deepEqual(o.page.rows, [['1', null], ['2', 'x']]);
  assert.deepEqual([o.page.rowCount, o.page.more, o.page.truncatedBy, o.page.maxRows, o.page.command], [250, true, 'max_rows', 250, 'SELECT 250']);
  assert.equal(makeResultPage({ ...page, truncated_by: 'something else', rows: [[1, 'a']] }).truncatedBy, null);
  assert.deepEqual(makeResultPage({ ...page, rows: [[1, 'a']] }).rows, [[null, 'a']], 'a value that is not text reads as NULL, never as a number');
});

for (const [wire, expected] of [
  [{ status: 'pending_review', review_id: 'rev_1', message: 'held' }, { status: 'pending_review', reviewId: 'rev_1', message: 'held' }],
  [{ status: 'error', code: 'SQLSTATE_42P01', message: 'relation "x" does not exist', elapsed_ms: 3 }, { status: 'error', code: 'SQLSTATE_42P01', message: 'relation "x" does not exist', elapsedMs: 3 }],
  [{ status: 'cancelled', code: 'SQLSTATE_57014', message: 'canceling statement due to user request', elapsed_ms: 900 }, { status: 'cancelled', code: 'SQLSTATE_57014', message: 'canceling statement due to user request', elapsedMs: 900 }],
  [{}, { status: 'error', code: 'AIRLOCK_INTERNAL', message: 'The statement failed.', elapsedMs: 0 }],
] as const) {
  test(`a ${(wire as { status?: string }).status ?? 'malformed'} answer becomes the console's model`, () => {
    assert.deepEqual(makeRunOutcome(wire), expected);
  });
}

test('the runner URLs', () => {
  assert.equal(api.queryRun(), '/api/v1/query/run');
  assert.equal(api.queryResult('qr_1', 0, 100), '/api/v1/query/results/qr_1?offset=0&limit=100');
  assert.equal(api.queryExport(), '/api/v1/query/export');
});
