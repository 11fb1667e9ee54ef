// The query runner's answers (/api/v1/query/…) as the console's models: a statement's outcome and a page of its rows.

import { arr, num, obj, optNum, str } from './models.js';

export interface ResultColumn {
  name: string;
  type: string;
}

/** One page of a result the runner holds: values as the server's text, null for NULL. */
export interface ResultPage {
  resultId: string;
  columns: ResultColumn[];
  rows: (string | null)[][];
  offset: number;
  rowCount: number;
  more: boolean;
  command: string | null;
  /** Why rows are missing: the role's max_rows guardrail, or what the runner keeps (Export CSV has them all). */
  truncatedBy: 'max_rows' | 'runner_limit' | null;
  maxRows: number | null;
  elapsedMs: number;
}

export type RunOutcome =
  | { status: 'ok'; page: ResultPage }
  | { status: 'pending_review'; reviewId: string; message: string }
  | { status: 'error' | 'cancelled'; code: string; message: string; elapsedMs: number };

export function makeResultPage(json: unknown): ResultPage {
  const j = obj(json);
  const by = j.truncated_by === 'max_rows' || j.truncated_by === 'runner_limit' ? j.truncated_by : null;
  return {
    resultId: str(j.result_id),
    columns: arr(j.columns).map((c) => ({ name: str(obj(c).name), type: str(obj(c).type) })),
    rows: arr(j.rows).map((r) => arr(r).map((v) => (typeof v === 'string' ? v : null))),
    offset: num(j.offset),
    rowCount: num(j.row_count),
    more: j.more === true,
    command: typeof j.command === 'string' ? j.command : null,
    truncatedBy: by,
    maxRows: optNum(j.max_rows),
    elapsedMs: num(j.elapsed_ms),
  };
}

export function makeRunOutcome(json: unknown): RunOutcome {
  const j = obj(json);
  if (j.status === 'ok') return { status: 'ok', page: makeResultPage(j) };
  if (j.status === 'pending_review') return { status: 'pending_review', reviewId: str(j.review_id), message: str(j.message) };
  return { status: j.status === 'cancelled' ? 'cancelled' : 'error', code: str(j.code, 'AIRLOCK_INTERNAL'), message: str(j.message, 'The statement failed.'), elapsedMs: num(j.elapsed_ms) };
}
