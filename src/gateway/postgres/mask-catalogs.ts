// Loads what a database says about its columns for masking (names, comments, views' pass-through columns) with the
// session's own login; one load per database serves sessions for the function catalogs' TTL and is dropped with them,
// and the catalog built from it for one masking (role, rules, keys) serves every session with that masking.
import { createHash } from 'node:crypto';
import { MASK_CATALOG_QUERIES, buildMaskCatalog, type MaskCatalog, type MaskCatalogRows } from '../../inspect/masking/index.js';
import type { SessionMasking } from '../../domain/masking.js';
import type { UpstreamLogin } from '../types.js';
import { CATALOG_TTL_MS, readCatalog, type FunctionCatalogs } from './function-catalogs.js';

export interface MaskCatalogs {
  /**
   * The masked columns of the login's database for one session's masking (its rules and keys are the session's; the
   * rows read from the database are shared). Rejects, and caches nothing, when the database cannot be read.
   */
  forLogin(key: string, login: UpstreamLogin, masking: SessionMasking): Promise<MaskCatalog>;
}

/** `catalogs`: whose invalidate(key) (a definition changed through this gateway) drops the rows loaded for key too. */
export function makeMaskCatalogs(catalogs: Pick<FunctionCatalogs, 'watch'>, now: () => number = Date.now): MaskCatalogs {
  const cache = new Map<string, { at: number; rows: Promise<MaskCatalogRows>; built: Map<string, Promise<MaskCatalog>> }>();
  const watched = new Set<string>();

  function entryFor(key: string, login: UpstreamLogin): { rows: Promise<MaskCatalogRows>; built: Map<string, Promise<MaskCatalog>> } {
    // Subscribed before any session of the key is (session-catalog.ts): a session reloading after a change reads
    // fresh rows, not those cached before it.
    if (!watched.has(key)) {
      watched.add(key);
      catalogs.watch(key, () => cache.delete(key));
    }
    const hit = cache.get(key);
    if (hit && now() - hit.at < CATALOG_TTL_MS) return hit;
    const rows = readCatalog(login, MASK_CATALOG_QUERIES);
    const entry = { at: now(), rows, built: new Map<string, Promise<MaskCatalog>>() };
    cache.set(key, entry);
    rows.catch(() => {
      if (cache.get(key) === entry) cache.delete(key);
    });
    return entry;
  }

  return {
    forLogin(key, login, masking) {
      // Building resolves the rules against every relation and analyses each view over a masked column: once per
      // load and masking, not per session. The catalog is immutable but for its cache of statement verdicts, which
      // depend only on the catalog, so sessions share it.
      const entry = entryFor(key, login);
      const id = maskingId(masking);
      let built = entry.built.get(id);
      if (!built) {
        built = entry.rows.then((rows) => buildMaskCatalog(rows, masking));
        entry.built.set(id, built);
        built.catch(() => entry.built.delete(id));
      }
      return built;
    },
  };
}

/** What a built catalog depends on besides the rows: the role, its rules and predicates, and its keys (as a digest). */
function maskingId(m: SessionMasking): string {
  const h = createHash('sha256').update(JSON.stringify([m.role, m.predicates, m.rules.map((r) => [r.column ?? null, r.label ?? null, r.method, r.keep ?? null])]));
  for (const r of m.rules) {
    const key = r.resolved.key;
    h.update(key ? `${key.length}:` : '-:');
    if (key) h.update(key);
  }
  return h.digest('hex');
}
