// Loads what a database says about its columns for masking (names, comments, views' pass-through columns) with the
// session's own login; one load per database serves sessions for the function catalogs' TTL and is dropped with them.
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
  const cache = new Map<string, { at: number; rows: Promise<MaskCatalogRows> }>();
  const watched = new Set<string>();

  function rowsFor(key: string, login: UpstreamLogin): Promise<MaskCatalogRows> {
    // Subscribed before any session of the key is (session-catalog.ts): a session reloading after a change reads
    // fresh rows, not those cached before it.
    if (!watched.has(key)) {
      watched.add(key);
      catalogs.watch(key, () => cache.delete(key));
    }
    const hit = cache.get(key);
    if (hit && now() - hit.at < CATALOG_TTL_MS) return hit.rows;
    const rows = readCatalog(login, MASK_CATALOG_QUERIES);
    const entry = { at: now(), rows };
    cache.set(key, entry);
    rows.catch(() => {
      if (cache.get(key) === entry) cache.delete(key);
    });
    return rows;
  }

  return {
    async forLogin(key, login, masking) {
      return buildMaskCatalog(await rowsFor(key, login), masking);
    },
  };
}
