// Opens the store: SQLite (embedded default) or PostgreSQL (clusters), runs migrations, and offers transactions.
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { CompiledQuery, Kysely, Migrator, PostgresDialect, SqliteDialect, SqliteDriver, type DatabaseConnection, type Driver, type SqliteDialectConfig, type Transaction } from 'kysely';
import type { DB } from './schema.js';
import { migrationProvider } from './migrations.js';
import { postgresAuditRows, sqliteAuditRows, type AuditRow, type InsertAuditRows } from './audit-rows.js';

export type { AuditRow };

export type Dialect = 'sqlite' | 'postgres';
export type Executor = Kysely<DB> | Transaction<DB>;

export interface Store {
  readonly db: Kysely<DB>;
  readonly dialect: Dialect;
  /** Where the data lives, without credentials: a file path or host/database. */
  readonly location: string;
  transaction<T>(fn: (trx: Transaction<DB>) => Promise<T>): Promise<T>;
  /** Inserts audit_events rows inside `trx` in the fewest round trips the dialect allows (the audit log's hot path). */
  insertAuditRows(trx: Transaction<DB>, rows: readonly AuditRow[]): Promise<void>;
  close(): Promise<void>;
}

export interface StoreOptions {
  /** `postgres://…` for PostgreSQL; otherwise a SQLite file path (":memory:" for tests). */
  url: string;
  poolSize?: number;
}

function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return 'postgres';
  }
}

/**
 * SQLite transactions take the write lock when they begin (BEGIN IMMEDIATE). The audit writer thread has its own
 * connection to the same file; a deferred transaction that read first and then wrote could find the other connection
 * had committed in between and fail with SQLITE_BUSY, which no busy timeout retries. An immediate one waits its turn.
 */
class ImmediateSqliteDriver extends SqliteDriver {
  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('begin immediate'));
  }
}

class ImmediateSqliteDialect extends SqliteDialect {
  constructor(private readonly sqliteConfig: SqliteDialectConfig) {
    super(sqliteConfig);
  }

  override createDriver(): Driver {
    return new ImmediateSqliteDriver(this.sqliteConfig);
  }
}

export async function openStore(opts: StoreOptions): Promise<Store> {
  const isPg = /^postgres(ql)?:\/\//.test(opts.url);
  let db: Kysely<DB>;
  let insertAuditRows: InsertAuditRows;
  if (isPg) {
    const pool = new pg.Pool({
      connectionString: opts.url,
      max: opts.poolSize ?? 10,
      // int8 counts (e.g. count(*)) come back as numbers; our own integers stay far below 2^53.
      types: { getTypeParser: (oid: number, format?: unknown) => (oid === 20 ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format as 'text')) },
    });
    pool.on('error', () => {}); // an idle client losing its server is reported by the next query instead
    db = new Kysely<DB>({ dialect: new PostgresDialect({ pool }) });
    insertAuditRows = postgresAuditRows();
  } else {
    if (opts.url !== ':memory:') mkdirSync(dirname(opts.url), { recursive: true });
    const sqlite = new Database(opts.url);
    // WAL with synchronous=FULL: a committed transaction survives a crash or power loss once commit returns.
    sqlite.pragma('journal_mode = WAL');
    sqlite.pragma('synchronous = FULL');
    sqlite.pragma('busy_timeout = 5000');
    sqlite.pragma('foreign_keys = ON');
    db = new Kysely<DB>({ dialect: new ImmediateSqliteDialect({ database: sqlite }) });
    insertAuditRows = sqliteAuditRows(sqlite);
  }
  const migrator = new Migrator({ db, provider: migrationProvider, migrationTableName: 'airlock_migrations', migrationLockTableName: 'airlock_migrations_lock' });
  const { error } = await migrator.migrateToLatest();
  if (error) {
    await db.destroy();
    throw new Error(`could not migrate the store at ${isPg ? redactUrl(opts.url) : opts.url}: ${(error as Error).message ?? String(error)}`);
  }
  return {
    db,
    dialect: isPg ? 'postgres' : 'sqlite',
    location: isPg ? redactUrl(opts.url) : opts.url,
    transaction: (fn) => db.transaction().execute(fn),
    insertAuditRows,
    close: () => db.destroy(),
  };
}
