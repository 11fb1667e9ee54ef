// LRU of analyses keyed by the full SQL text, bounded by entry count and by approximate bytes, so each text is parsed once.

import type { Analysis } from './analysis.js';

export interface ParseCacheStats {
  hits: number;
  misses: number;
  /** Entries currently held. */
  entries: number;
  /** Approximate bytes held (keys and audit text, UTF-16). */
  bytes: number;
  evictions: number;
  /** Texts not stored because they were longer than maxTextChars. */
  skipped: number;
}

export interface ParseCache {
  /** The cached analysis of sql, counting a hit or a miss; a hit becomes the most recently used entry. */
  get(sql: string): Analysis | undefined;
  /** Stores an analysis; texts longer than maxTextChars are not stored. */
  set(sql: string, analysis: Analysis): void;
  stats(): ParseCacheStats;
  clear(): void;
  readonly maxEntries: number;
  readonly maxBytes: number;
  readonly maxTextChars: number;
}

export interface ParseCacheLimits {
  /** Upper bound on the memory the cache holds (approximate). Default 64 MiB. */
  maxBytes?: number;
  /** Longer texts are not cached: they are rare, each would evict thousands of small ones. Default 65,536. */
  maxTextChars?: number;
}

/** Fixed cost per entry for the Map slot, the analysis object and its statement facts. */
const ENTRY_OVERHEAD = 256;

function sizeOf(sql: string, a: Analysis): number {
  const text = a.ok ? a.redacted.length + a.statements.length * 96 : a.error.length;
  return ENTRY_OVERHEAD + 2 * (sql.length + text);
}

interface Entry {
  key: string;
  analysis: Analysis;
  size: number;
  /** Toward the least recently used end. */
  older: Entry | null;
  /** Toward the most recently used end. */
  newer: Entry | null;
}

export function makeParseCache(maxEntries = 5000, limits: ParseCacheLimits = {}): ParseCache {
  const maxBytes = limits.maxBytes ?? 64 * 1024 * 1024;
  const maxTextChars = limits.maxTextChars ?? 64 * 1024;
  if (!(Number.isInteger(maxEntries) && maxEntries > 0)) throw new TypeError(`parse cache: maxEntries must be a positive integer, got ${maxEntries}`);
  // Recency lives in a linked list, not in Map order: V8 makes Map delete-then-set of one key cost O(size)
  // (measured 17 µs at 5,000 entries), which would put that on every cache hit.
  const map = new Map<string, Entry>();
  let oldest: Entry | null = null;
  let newest: Entry | null = null;
  let bytes = 0;
  let hits = 0;
  let misses = 0;
  let evictions = 0;
  let skipped = 0;

  function unlink(e: Entry): void {
    if (e.older !== null) e.older.newer = e.newer;
    else oldest = e.newer;
    if (e.newer !== null) e.newer.older = e.older;
    else newest = e.older;
    e.older = null;
    e.newer = null;
  }

  function pushNewest(e: Entry): void {
    e.older = newest;
    e.newer = null;
    if (newest !== null) newest.newer = e;
    newest = e;
    oldest ??= e;
  }

  function remove(e: Entry): void {
    unlink(e);
    map.delete(e.key);
    bytes -= e.size;
  }

  return {
    maxEntries,
    maxBytes,
    maxTextChars,
    get(sql) {
      const e = map.get(sql);
      if (e === undefined) {
        misses++;
        return undefined;
      }
      hits++;
      if (e !== newest) {
        unlink(e);
        pushNewest(e);
      }
      return e.analysis;
    },
    set(sql, analysis) {
      if (sql.length > maxTextChars) {
        skipped++;
        return;
      }
      const old = map.get(sql);
      if (old !== undefined) remove(old);
      const e: Entry = { key: sql, analysis, size: sizeOf(sql, analysis), older: null, newer: null };
      map.set(sql, e);
      pushNewest(e);
      bytes += e.size;
      while (oldest !== null && (map.size > maxEntries || bytes > maxBytes)) {
        remove(oldest);
        evictions++;
      }
    },
    stats() {
      return { hits, misses, entries: map.size, bytes, evictions, skipped };
    },
    clear() {
      map.clear();
      oldest = null;
      newest = null;
      bytes = 0;
    },
  };
}
