// Loads what the upstream database defines itself (functions, operators, views, row policies), so the guardrails and
// the audit ordering know which names may reach code that writes; one load per database serves sessions for a minute.
import { pgAdminConnection, serverOffersTls } from '../../credentials/pg-upstream-security.js';
import { buildCatalog, CATALOG_QUERIES, type CatalogRows, type FunctionCatalog } from '../../inspect/index.js';
import type { UpstreamLogin } from '../types.js';

/**
 * How long a loaded catalog serves new sessions. A change made through this process's gateway drops it at once and
 * reloads every live session's (invalidate); a change made elsewhere (another Airlock process of a cluster, a direct
 * connection) is seen by new sessions within this time, and by a live session once a change passes through it.
 */
export const CATALOG_TTL_MS = 60_000;

export interface FunctionCatalogs {
  /** The catalog of the login's database; rejects (and caches nothing) when it cannot be read. */
  forLogin(key: string, login: UpstreamLogin): Promise<FunctionCatalog>;
  /**
   * A session ran a statement that may have changed the database's catalog (DDL), now committed: the cached load is
   * dropped and every live session of this process on `key` is told to load it again (session-catalog.ts).
   */
  invalidate(key: string): void;
  /** Calls `changed` on each invalidate(key); returns the unsubscribe. */
  watch(key: string, changed: () => void): () => void;
}

/**
 * Runs read-only catalog queries with the session's own login, in one READ ONLY transaction, on a connection of their
 * own under the same TLS and password rules as the session's upstream login (src/credentials/pg-upstream-security.ts).
 * Returns each query's rows under its key.
 */
export async function readCatalog(login: UpstreamLogin, queries: Record<string, string>): Promise<Record<string, Record<string, unknown>[]>> {
  const security = login.security;
  if (!security) throw new Error('a PostgreSQL upstream login came without its TLS settings');
  const conn = pgAdminConnection(security, login.host, login.port);
  const ssl = security.mode === 'prefer' && !(await serverOffersTls(login.host, login.port)) ? false : conn.ssl;
  const client = new conn.Client({
    host: login.host, port: login.port, database: login.database, user: login.user, password: login.password,
    ssl, enableChannelBinding: ssl !== false, connectionTimeoutMillis: 10_000, application_name: 'airlock-catalog',
  });
  client.on('error', () => {});
  await client.connect();
  try {
    await client.query('BEGIN READ ONLY');
    const rows: Record<string, Record<string, unknown>[]> = {};
    for (const [name, sql] of Object.entries(queries)) rows[name] = (await client.query(sql)).rows as Record<string, unknown>[];
    await client.query('COMMIT');
    return rows;
  } finally {
    await client.end().catch(() => {});
  }
}

export function makeFunctionCatalogs(now: () => number = Date.now): FunctionCatalogs {
  const cache = new Map<string, { at: number; catalog: Promise<FunctionCatalog> }>();
  const watchers = new Map<string, Set<() => void>>();

  async function load(login: UpstreamLogin): Promise<FunctionCatalog> {
    return buildCatalog((await readCatalog(login, CATALOG_QUERIES)) as unknown as CatalogRows);
  }

  return {
    forLogin(key, login) {
      const hit = cache.get(key);
      if (hit && now() - hit.at < CATALOG_TTL_MS) return hit.catalog;
      const catalog = load(login);
      const entry = { at: now(), catalog };
      cache.set(key, entry);
      catalog.catch(() => {
        if (cache.get(key) === entry) cache.delete(key);
      });
      return catalog;
    },
    invalidate(key) {
      cache.delete(key);
      for (const changed of [...(watchers.get(key) ?? [])]) changed();
    },
    watch(key, changed) {
      let set = watchers.get(key);
      if (!set) watchers.set(key, (set = new Set()));
      set.add(changed);
      return () => {
        set.delete(changed);
        if (set.size === 0 && watchers.get(key) === set) watchers.delete(key);
      };
    },
  };
}
