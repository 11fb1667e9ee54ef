// max_rows for SQL cursors: the rows a cursor sends count against the limit over all its FETCHes (in a Query or
// through the extended protocol), not per FETCH, so reading a cursor in batches does not get past the limit.
import type { CursorOp } from '../../inspect/index.js';

/** A row count max_rows applies to; `cursor` names the SQL cursor it belongs to, if any. */
export interface RowLimit {
  rows: number;
  cursor?: string;
}

interface Tracked {
  limit: RowLimit;
  /** true/false as DECLARE said; null for a cursor first seen in a FETCH (opened by a function: it may be held). */
  hold: boolean | null;
}

export class CursorLimits {
  private readonly cursors = new Map<string, Tracked>();

  /**
   * The count a statement's rows go to, once it is known to have run (its first DataRow, or its CommandComplete):
   * a FETCH shares its cursor's; anything else has its own. A cursor first met here (declared in a function, or
   * before the gateway could see) starts counting now.
   */
  limitFor(op: CursorOp | null | undefined): RowLimit {
    if (op?.op !== 'fetch' || op.name === null) return { rows: 0 };
    let t = this.cursors.get(op.name);
    if (!t) {
      t = { limit: { rows: 0, cursor: op.name }, hold: null };
      this.cursors.set(op.name, t);
    }
    return t.limit;
  }

  /** The statement completed on the server: a DECLARE starts a new count, a CLOSE (or CLOSE ALL) ends one. */
  completed(op: CursorOp | null | undefined): void {
    if (!op) return;
    if (op.op === 'declare' && op.name !== null) this.cursors.set(op.name, { limit: { rows: 0, cursor: op.name }, hold: op.hold });
    else if (op.op === 'close') {
      if (op.name === null) this.cursors.clear();
      else this.cursors.delete(op.name);
    }
  }

  /**
   * The server is idle outside a transaction: cursors declared without HOLD are gone. Ones of unknown origin are
   * kept (over-counting a closed cursor fails safe; a new DECLARE of the name starts afresh).
   */
  transactionEnded(): void {
    for (const [name, t] of this.cursors) if (t.hold === false) this.cursors.delete(name);
  }

  get size(): number {
    return this.cursors.size;
  }
}

/** The cursor operations of a decision's statements, one per statement, or null when there are none (the usual case). */
export function cursorOpsOf(statements: readonly { cursor?: CursorOp }[]): readonly (CursorOp | null)[] | null {
  let any = false;
  for (const s of statements) if (s.cursor) any = true;
  return any ? statements.map((s) => s.cursor ?? null) : null;
}
