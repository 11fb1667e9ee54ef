// The database catalog one PostgreSQL session's statements are judged against, kept current: a statement that may
// change the catalog makes the session judge without it until the change is committed and the catalog reloaded.
import type { Decision, FunctionCatalog, Inspector } from '../../inspect/index.js';
import type { Log } from '../../domain/log.js';
import type { UpstreamLogin } from '../types.js';
import type { FunctionCatalogs } from './function-catalogs.js';

/**
 * Statement kinds that cannot define, replace or drop what the catalog holds (functions, views, operators, rules,
 * policies, types, schemas): plain reads and DML, transaction control, cursors, session commands. Anything else
 * (CREATE, ALTER, DROP, COMMENT, GRANT, DO, CALL, an unknown kind) may. A SET is harmless unless it names search_path.
 */
export const CATALOG_SAFE_KINDS: ReadonlySet<string> = new Set([
  'select', 'insert', 'update', 'delete', 'merge', 'copy', 'explain', 'declare', 'fetch', 'close', 'prepare', 'execute',
  'deallocate', 'discard', 'begin', 'commit', 'rollback', 'savepoint', 'release', 'show', 'set', 'listen', 'unlisten',
  'notify', 'lock', 'truncate', 'vacuum', 'analyze',
]);

/**
 * Which schema an unqualified name means. The catalog judges a bare name by every schema's objects of that name, so
 * a changed search_path cannot make it clear a writing function; the catalog is reloaded after it all the same.
 */
const SEARCH_PATH = /search_path/i;
const SET_CONFIG = /set_config/i;

/** A SET (or set_config) that may name search_path; a SHOW or a read of current_setting does not change it. */
function mayChangePath(d: Decision | null, sql: string): boolean {
  if (!SEARCH_PATH.test(sql)) return false;
  return d === null || d.statements.length === 0 || d.statements.some((s) => s.kind === 'set') || SET_CONFIG.test(sql);
}

/** True when a statement sent to the server may have changed what the catalog says (fail closed: unknown = may). */
export function mayChangeCatalog(d: Decision | null): boolean {
  if (d === null) return false; // an Execute of a statement SQL PREPARE made: plain DML or SELECT
  if (d.statements.length === 0) return !d.reads_only;
  return d.statements.some((s) => !CATALOG_SAFE_KINDS.has(s.kind));
}

export interface SessionCatalogOptions {
  /** The shared cache's key for this session's database, and the login to load it with. */
  key: string;
  login: UpstreamLogin;
  catalogs: FunctionCatalogs;
  inspectorFor(catalog: FunctionCatalog | null): Inspector;
  log: Pick<Log, 'warn'>;
  /** Reloaded with the catalog, and waited for before anything more is decided (the session's masked columns). */
  alsoReload?: () => Promise<void>;
}

export class SessionCatalog {
  /** What statements are judged with now: the current catalog, or none (nothing is shown to only read). */
  inspector: Inspector;
  /** Bumped at every change of `inspector`: decisions made before (of prepared statements, portals) are stale. */
  generation = 0;
  /** A reload in progress: the session decides nothing until it is done. */
  loading: Promise<void> | null = null;
  /** This session sent a statement that may have changed the catalog; it is reloaded when the server is idle. */
  private changed = false;
  private readonly blind: Inspector;
  private readonly unwatch: () => void;

  constructor(private readonly o: SessionCatalogOptions, catalog: FunctionCatalog) {
    this.inspector = o.inspectorFor(catalog);
    this.blind = o.inspectorFor(null);
    this.unwatch = o.catalogs.watch(o.key, () => this.reload());
  }

  /** An allowed statement went to the server: if it may change the catalog, judge without one from here on. */
  sent(d: Decision | null, sql: string | null): void {
    if (!mayChangeCatalog(d) && !(sql !== null && mayChangePath(d, sql))) return;
    this.changed = true;
    this.use(this.blind);
  }

  /** The server is idle outside a transaction: a change this session made is committed (or rolled back) now. */
  idle(): void {
    if (!this.changed) return;
    this.changed = false;
    this.o.catalogs.invalidate(this.o.key); // every session on the database reloads, this one too
  }

  close(): void {
    this.unwatch();
  }

  private reload(): void {
    const also = this.o.alsoReload?.();
    const load = this.o.catalogs.forLogin(this.o.key, this.o.login).then(
      (catalog) => {
        if (this.loading === load && !this.changed) this.use(this.o.inspectorFor(catalog));
      },
      (err: unknown) => {
        // Fail closed: judged without a catalog until a later change reloads it.
        this.o.log.warn({ err: err instanceof Error ? err.message : String(err) }, 'postgres gateway: could not reload the upstream catalog after a change; the session is judged without it');
        this.use(this.blind);
      },
    ).then(() => also).finally(() => {
      if (this.loading === load) this.loading = null;
    });
    this.loading = load;
  }

  private use(inspector: Inspector): void {
    if (inspector === this.inspector) return;
    this.inspector = inspector;
    this.generation++;
  }
}
