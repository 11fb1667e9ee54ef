// The contract between the masking catalog, the statement check and the gateways (docs/masking.md): which columns
// of one database a session sees masked, and whether a statement may run in such a session.
import type { MaskValueKind, ResolvedMask } from '../../domain/masking.js';

/** One column (of a table, partition, inheritance child, materialized view, or a view's pass-through column) shown masked. */
export interface MaskedColumnInfo {
  /** pg_class OID and attribute number: what a RowDescription names as the result column's origin. */
  relid: number;
  attnum: number;
  /** schema.table.column, as messages name it. */
  name: string;
  mask: ResolvedMask;
  kind: MaskValueKind;
}

export interface MaskCatalog {
  /** No column of this database is masked for the session's role: the gateway decodes nothing and checks nothing. */
  readonly empty: boolean;
  /** Every masked column (explain output, tests). */
  readonly columns: readonly MaskedColumnInfo[];
  /** The mask of a result column whose RowDescription names this relation OID and column number; null: in clear. */
  maskOf(relid: number, attnum: number): MaskedColumnInfo | null;
}

/**
 * Whether a statement may run in a session with masked columns. `masked`: some result column may carry a masked
 * value as a plain column (the gateway then masks by RowDescription origin). A refusal names the column and says
 * what to do instead; the gateway sends it as a 42501 ErrorResponse with code AIRLOCK_MASKING_REFUSED.
 */
export type MaskVerdict =
  | { ok: true; masked: boolean }
  | { ok: false; column: string; message: string };

/** How masked columns may be used outside the result: see MaskingPolicy.predicates. */
export interface MaskCheckOptions {
  predicates: 'allow' | 'refuse';
}
