// What a statement does to a SQL cursor (DECLARE, FETCH, MOVE, CLOSE), so the gateway can count max_rows per
// cursor across all its FETCHes instead of per FETCH.

import type { StatementFacts } from './classify.js';
import { isObj } from './tree-walk.js';

export interface CursorOp {
  op: 'declare' | 'fetch' | 'move' | 'close';
  /** The cursor's name as the server folds it; null for CLOSE ALL and DISCARD ALL (every cursor). */
  name: string | null;
  /** DECLARE … WITH HOLD: the cursor outlives its transaction. */
  hold: boolean;
}

/** PostgreSQL's CURSOR_OPT_HOLD bit in DeclareCursorStmt.options. */
const CURSOR_OPT_HOLD = 0x20;

export function cursorOpOf(node: unknown): CursorOp | null {
  if (!isObj(node)) return null;
  const declare = node.DeclareCursorStmt;
  if (isObj(declare)) return { op: 'declare', name: String(declare.portalname ?? ''), hold: ((Number(declare.options) || 0) & CURSOR_OPT_HOLD) !== 0 };
  const fetch = node.FetchStmt;
  if (isObj(fetch)) return { op: fetch.ismove === true ? 'move' : 'fetch', name: String(fetch.portalname ?? ''), hold: false };
  const close = node.ClosePortalStmt;
  if (isObj(close)) return { op: 'close', name: typeof close.portalname === 'string' ? close.portalname : null, hold: false };
  const discard = node.DiscardStmt;
  if (isObj(discard) && discard.target === 'DISCARD_ALL') return { op: 'close', name: null, hold: false };
  return null;
}

/** The facts with the statement's cursor operation attached to its info (unchanged when it has none). */
export function withCursor(facts: StatementFacts, node: unknown): StatementFacts {
  const cursor = cursorOpOf(node);
  return cursor === null ? facts : { ...facts, info: { ...facts.info, cursor } };
}
