// Public surface of masking for PostgreSQL: the catalog a session resolves its masked columns with, and the check
// every statement of a masked session passes (docs/masking.md).
import type { SessionMasking } from '../../domain/masking.js';
import { buildPgMaskCatalog, PgMaskCatalog } from './catalog.js';
import { checkText } from './check.js';
import type { MaskCatalog, MaskCheckOptions, MaskVerdict } from './types.js';

export type { MaskCatalog, MaskCheckOptions, MaskVerdict, MaskedColumnInfo } from './types.js';
export { PgMaskCatalog } from './catalog.js';
export { MASK_CATALOG_QUERIES } from './catalog-queries.js';

/** The rows MASK_CATALOG_QUERIES return (each query's rows under its key), as plain data. */
export type MaskCatalogRows = Record<string, Record<string, unknown>[]>;

/**
 * The session's masked columns (tables, partitions and inheritance children, views' pass-through columns). The
 * result is a PgMaskCatalog: a MaskCatalog plus what checkPgMasking needs (relations by name, the database's own
 * function and operator names, view columns computed from masked ones, the verdict cache).
 */
export function buildMaskCatalog(rows: MaskCatalogRows, masking: SessionMasking): MaskCatalog {
  return buildPgMaskCatalog(rows, masking);
}

const CLEAR: MaskVerdict = Object.freeze({ ok: true, masked: false });

/** Whether one SQL text (one or more statements) may run in a session with this catalog; see MaskVerdict. */
export function checkPgMasking(sql: string, catalog: MaskCatalog, opts: MaskCheckOptions): MaskVerdict {
  if (catalog.empty) return CLEAR;
  if (!(catalog instanceof PgMaskCatalog)) throw new TypeError('checkPgMasking: the catalog was not built by buildMaskCatalog');
  const cache = catalog.verdicts[opts.predicates === 'refuse' ? 'refuse' : 'allow'];
  const hit = cache.get(sql);
  if (hit !== undefined) return hit;
  const v = checkText(sql, catalog, opts);
  cache.set(sql, v);
  return v;
}
