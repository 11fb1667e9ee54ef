// The inspector a gateway session holds: size limit, cached analysis, guardrail decision; large texts parsed in a worker.

import { analyze, initInspect, isInspectReady, type Analysis } from './analysis.js';
import { resolveGuardrails, type GuardrailConfig } from './config.js';
import { bytesOverLimit, decide, tooLarge, type DecideContext, type Decision } from './decide.js';
import type { FunctionCatalog } from './function-rules.js';
import { makeParseCache, type ParseCache } from './parse-cache.js';
import { makeParsePool, type ParsePool } from './parse-pool.js';
import { shapeAgreesWithLexer, shapeOf } from './shape.js';

/** The SQL dialects Airlock inspects; each has its own parser and classifier behind this one interface. */
export type SqlDialect = 'postgres' | 'mysql';

/**
 * What a gateway session holds to judge statements, for any dialect: the same Decision (kinds, reads_only, rule,
 * redacted text, fingerprint) whatever the parser. PostgreSQL's is makeInspector (libpg-query); MySQL's is in
 * src/inspect/mysql/.
 */
export interface Inspector {
  readonly dialect: SqlDialect;
  /** Decides inline. Fine for any text, but a large one blocks the event loop while it parses. */
  inspect(sql: string): Decision;
  /** Decides small texts inline and parses texts above ASYNC_THRESHOLD_CHARS in a worker thread. */
  inspectAsync(sql: string): Promise<Decision>;
  /**
   * The decision now when it can be made without waiting (the parser is loaded and the text is small enough to
   * parse inline, or its analysis is cached); null when only inspectAsync can decide. Saves a promise per statement.
   */
  inspectNow(sql: string): Decision | null;
  readonly config: GuardrailConfig;
}

/**
 * Above this many UTF-16 units inspectAsync parses in a worker. Measured (docs/guardrails.md): parse, fingerprint
 * and normalize of 8 KiB of ordinary SQL take a few ms, of 64 KiB about 30 ms; the worker round trip costs
 * a fraction of a millisecond, so handing over from 8 KiB keeps the loop's pauses to single-digit ms.
 */
export const ASYNC_THRESHOLD_CHARS = 8 * 1024;

let sharedCache: ParseCache | null = null;
let sharedPool: ParsePool | null = null;

/** The cache inspectors use when none is given: analyses do not depend on the role, so sessions share them. */
export function sharedParseCache(): ParseCache {
  sharedCache ??= makeParseCache();
  return sharedCache;
}

function parsePool(): ParsePool {
  sharedPool ??= makeParsePool();
  return sharedPool;
}

/** Stops the parser worker threads (server shutdown, tests). A later inspectAsync starts new ones. */
export async function closeInspectWorkers(): Promise<void> {
  const pool = sharedPool;
  sharedPool = null;
  if (pool !== null) await pool.close();
}

/** Per text cache, the cache of analyses by shape (texts that differ only in constants) that goes with it. */
const shapeCaches = new WeakMap<ParseCache, ParseCache>();

/** Statement kinds whose guardrail decision depends on structure and names only, never on a constant's value. */
const SHAPE_SAFE_KINDS = new Set(['select', 'insert', 'update', 'delete']);

function shapeSafe(a: Analysis): boolean {
  return a.ok && a.fingerprint !== null && a.statements.length > 0 && a.statements.every((f) => SHAPE_SAFE_KINDS.has(f.info.kind) && !f.textRisk && !f.constantSensitive);
}

/**
 * `catalog` is the database's own functions, operators and views as a gateway session loaded them (see
 * database-catalog.ts); without it a read-only decision knows only the built-ins and the role's allow list.
 */
export function makeInspector(config: Partial<GuardrailConfig>, cache?: ParseCache, catalog: FunctionCatalog | null = null): Inspector {
  const cfg = resolveGuardrails(config);
  const ctx: DecideContext = { allow: new Set(cfg.allow_functions), catalog };
  const lru = cache ?? sharedParseCache();
  let shapes = shapeCaches.get(lru);
  if (!shapes) {
    shapes = makeParseCache(lru.maxEntries, { maxBytes: lru.maxBytes, maxTextChars: lru.maxTextChars });
    shapeCaches.set(lru, shapes);
  }
  const byShape = shapes;

  function remember(sql: string, a: Analysis): void {
    if (a.ok || a.transient !== true) lru.set(sql, a);
  }

  /**
   * The analysis of a text: by text, else by shape (a plain SELECT/INSERT/UPDATE/DELETE seen before with other
   * constants), else a full parse — which also teaches the shape cache when PostgreSQL's lexer agrees on the constants.
   */
  function analysisOf(sql: string): Analysis {
    const known = lru.get(sql);
    if (known !== undefined) return known;
    const shape = shapeOf(sql);
    if (shape !== null) {
      const same = byShape.get(shape.key);
      if (same !== undefined && same.ok) return { ...same, redacted: shape.redacted };
    }
    const a = analyze(sql);
    remember(sql, a);
    if (shape !== null && shapeSafe(a) && shapeAgreesWithLexer(sql, shape)) byShape.set(shape.key, a);
    return a;
  }

  function inspect(sql: string): Decision {
    const bytes = bytesOverLimit(sql, cfg.max_statement_bytes);
    if (bytes !== null) return tooLarge(sql, bytes, cfg);
    return decide(sql, analysisOf(sql), cfg, ctx);
  }

  async function inspectAsync(sql: string): Promise<Decision> {
    await initInspect();
    // Everything but a large text nobody has analysed yet is decided now; that one goes to a worker.
    const now = inspectNow(sql);
    if (now !== null) return now;
    const a = await parsePool().analyze(sql);
    remember(sql, a);
    return decide(sql, a, cfg, ctx);
  }

  function inspectNow(sql: string): Decision | null {
    if (!isInspectReady()) return null;
    if (sql.length <= ASYNC_THRESHOLD_CHARS) return inspect(sql);
    const bytes = bytesOverLimit(sql, cfg.max_statement_bytes);
    if (bytes !== null) return tooLarge(sql, bytes, cfg);
    const a = lru.get(sql);
    return a === undefined ? null : decide(sql, a, cfg, ctx);
  }

  return { dialect: 'postgres', config: cfg, inspect, inspectAsync, inspectNow };
}
