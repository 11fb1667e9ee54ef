// Column masking for one MySQL session (docs/masking.md, "MySQL and MariaDB"): the masked columns read from the
// server's information_schema with the session's own upstream login before the relay starts (cached for a minute per
// server and account), the statement check, a result masker per command, and error texts with the values they quote
// hidden.
import type { SessionMasking } from '../../domain/masking.js';
import type { MaskVerdict } from '../../inspect/masking/types.js';
import { buildMysqlMaskCatalog, mysqlMaskCatalogQueries, type MysqlCatalogRow, type MysqlMaskCatalog, type MysqlMaskCatalogRows } from '../../inspect/mysql/mask-catalog.js';
import { checkMysqlMasking } from '../../inspect/mysql/masking.js';
import type { UpstreamLogin } from '../types.js';
import { CAP, framePacket, readLenenc } from './packets.js';
import { ResponseTracker } from './responses.js';
import { ResultMasker } from './result-masking.js';
import type { UpstreamConnection, UpstreamFacts } from './upstream.js';

export interface MysqlMasking {
  catalog: MysqlMaskCatalog;
  /** Whether a statement text may run; `masked`: its results are to pass through a masker. */
  check(sql: string): MaskVerdict;
  masker(binary: boolean): ResultMasker;
  /** A server error's text as the client and the audit read it in this session. */
  scrubError(text: string, code: number): string;
}

/** How long catalog rows are reused for the same server and account. */
export const MASK_CATALOG_TTL_MS = 60_000;
const CACHE_ENTRIES = 256;
const QUERY_TIMEOUT_MS = 10_000;
const VERDICTS = 500;

const catalogCache = new Map<string, { at: number; rows: MysqlMaskCatalogRows }>();

/** Forgets cached catalog rows (tests that change a schema between sessions). */
export function clearMysqlMaskCatalogCache(): void {
  catalogCache.clear();
}

/** Reads the session's masked columns on its upstream connection (before the relay owns it). Throws when it cannot. */
export async function loadMysqlMasking(upstream: UpstreamConnection, login: UpstreamLogin, masking: SessionMasking, facts: UpstreamFacts, now = Date.now()): Promise<MysqlMasking> {
  const queries = mysqlMaskCatalogQueries(masking);
  const key = `${login.host}:${login.port}/${login.user}/${JSON.stringify(queries)}`;
  let hit = catalogCache.get(key);
  if (hit === undefined || now - hit.at > MASK_CATALOG_TTL_MS) {
    const rows: MysqlMaskCatalogRows = { columns: [], views: [], triggers: [] };
    for (const name of ['columns', 'views', 'triggers'] as const) rows[name] = await upstreamRows(upstream, queries[name]);
    hit = { at: now, rows };
    catalogCache.delete(key);
    catalogCache.set(key, hit);
    if (catalogCache.size > CACHE_ENTRIES) catalogCache.delete(catalogCache.keys().next().value as string);
  }
  const catalog = buildMysqlMaskCatalog(hit.rows, masking);
  const verdicts = new Map<string, MaskVerdict>();
  const opts = { predicates: masking.predicates, noBackslashEscapes: facts.noBackslashEscapes };
  return {
    catalog,
    check(sql) {
      const known = verdicts.get(sql);
      if (known !== undefined) return known;
      const v = checkMysqlMasking(sql, catalog, opts);
      if (sql.length <= 16_384) {
        verdicts.set(sql, v);
        if (verdicts.size > VERDICTS) verdicts.delete(verdicts.keys().next().value as string);
      }
      return v;
    },
    masker: (binary) => new ResultMasker(catalog, binary),
    scrubError: scrubMaskedError,
  };
}

/**
 * Server errors whose texts quote only names and the statement's own text (syntax errors, unknown tables and columns,
 * access denied…): kept as they are. Every other error's quoted parts can be values read from a table (`Duplicate
 * entry 'alice@…'`, `Truncated incorrect DOUBLE value: 'alice@…'`) and are hidden; SIGNAL texts are hidden whole.
 */
const NAMES_ONLY = new Set([1044, 1045, 1046, 1049, 1050, 1051, 1052, 1054, 1060, 1061, 1064, 1065, 1109, 1110, 1142, 1143, 1146, 1149, 1176, 1205, 1213, 1227, 1242, 1248, 1305, 1317, 1356, 1370, 1451, 1452, 1969, 3024]);
const SIGNAL = new Set([1644, 1645]);
const QUOTED = /'(?:[^'\\]|\\.|'')*'|"(?:[^"\\]|\\.|"")*"/g;

export function scrubMaskedError(text: string, code: number): string {
  if (NAMES_ONLY.has(code)) return text;
  if (SIGNAL.has(code)) return 'an error raised by a stored program or trigger (its text is hidden in a session with masked columns)';
  return text.replace(QUOTED, (q) => `${q[0]}…${q[0]}`);
}

/**
 * Runs one query on an upstream connection the relay does not own yet and returns its rows as text (NULL as null),
 * keyed by column name. Rejects on an error, a closed connection or a timeout.
 */
export function upstreamRows(upstream: UpstreamConnection, sql: string): Promise<MysqlCatalogRow[]> {
  const { socket, reader } = upstream;
  const tracker = new ResponseTracker('result', (upstream.capabilities & CAP.DEPRECATE_EOF) !== 0);
  const names: string[] = [];
  const rows: MysqlCatalogRow[] = [];
  return new Promise<MysqlCatalogRow[]>((resolve, reject) => {
    const done = (err: Error | null) => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
      socket.pause();
      if (err) reject(err);
      else resolve(rows);
    };
    const timer = setTimeout(() => done(new Error('the catalog query did not answer in time')), QUERY_TIMEOUT_MS);
    const onClose = () => done(new Error('the database server closed the connection'));
    const onData = (chunk: Buffer) => {
      try {
        reader.push(chunk, (p) => {
          if (tracker.done) throw new Error('the database server sent more than its answer');
          const phase = tracker.phase;
          const isRow = tracker.feed(p.payload, p.payload.length);
          if (phase === 'columns') names.push(columnName(p.payload));
          if (isRow) rows.push(textRow(p.payload, names));
        });
      } catch (err) {
        return done(err instanceof Error ? err : new Error(String(err)));
      }
      if (tracker.error) return done(new Error(`${tracker.error.code}: ${tracker.error.message}`));
      if (tracker.done) done(null);
    };
    socket.on('data', onData);
    socket.on('close', onClose);
    socket.write(framePacket(Buffer.concat([Buffer.from([0x03]), Buffer.from(sql, 'utf8')]), 0));
    socket.resume();
  });
}

/** The name (alias) of a column definition: the fifth length-encoded string. */
function columnName(p: Buffer): string {
  let off = 0;
  for (let k = 0; k < 4; k++) {
    const { value, next } = readLenenc(p, off);
    off = next + value;
  }
  const { value, next } = readLenenc(p, off);
  return p.toString('utf8', next, next + value);
}

function textRow(p: Buffer, names: string[]): MysqlCatalogRow {
  const row: MysqlCatalogRow = {};
  let off = 0;
  for (const name of names) {
    if (p[off] === 0xfb) {
      row[name] = null;
      off++;
      continue;
    }
    const { value, next } = readLenenc(p, off);
    row[name] = p.toString('utf8', next, next + value);
    off = next + value;
  }
  return row;
}
