// Public surface of masking for PostgreSQL: the catalog a session resolves its masked columns with, and the check
// every statement of a masked session passes. CONTRACT STUB (lead): helper h-mcat implements these; signatures stay.
import type { SessionMasking } from '../../domain/masking.js';
import type { MaskCatalog, MaskCheckOptions, MaskVerdict } from './types.js';

export type { MaskCatalog, MaskCheckOptions, MaskVerdict, MaskedColumnInfo } from './types.js';

/** The rows MASK_CATALOG_QUERIES return (each query's rows under its key), as plain data. */
export type MaskCatalogRows = Record<string, Record<string, unknown>[]>;

/** Read-only catalog queries, run with the session's own upstream credential in one READ ONLY transaction. */
export const MASK_CATALOG_QUERIES: Record<string, string> = {};

/** The session's masked columns (tables, partitions and inheritance children, views' pass-through columns). */
export function buildMaskCatalog(rows: MaskCatalogRows, masking: SessionMasking): MaskCatalog {
  void rows; void masking;
  throw new Error('buildMaskCatalog: not built yet');
}

/** Whether one SQL text (one or more statements) may run in a session with this catalog; see MaskVerdict. */
export function checkPgMasking(sql: string, catalog: MaskCatalog, opts: MaskCheckOptions): MaskVerdict {
  void sql; void catalog; void opts;
  throw new Error('checkPgMasking: not built yet');
}
