// Benchmark of MySQL parsers on the statement corpus: share parsed, share whose statement kind matches the label,
// and µs per statement (median over rounds, every candidate in the same run, order alternating between rounds).
// Usage: node --import tsx bench/mysql-parser.bench.ts [--rounds 5]

import NodeSqlParser from 'node-sql-parser';
import { MySQL } from 'dt-sql-parser';
import { MYSQL_CORPUS } from '../test/fixtures/mysql-corpus.js';
import { analyzeMysql } from '../src/inspect/mysql/index.js';

const roundsArg = process.argv.indexOf('--rounds');
const ROUNDS = roundsArg > 0 ? Number(process.argv[roundsArg + 1]) : 5;

interface Candidate {
  name: string;
  /** The statement kind it reads, or null when it cannot parse the text. */
  kindOf(sql: string): string | null;
}

/** node-sql-parser's AST `type` in Airlock's kind words. */
function nspKind(ast: unknown): string {
  const a = (Array.isArray(ast) ? ast[0] : ast) as { type?: string; expr?: { action?: { value?: string } }; keyword?: string } | undefined;
  const type = String(a?.type ?? '').toLowerCase();
  if (type === 'transaction') {
    const action = String(a?.expr?.action?.value ?? '').toLowerCase();
    return action === 'start' ? 'begin' : action;
  }
  const map: Record<string, string> = { desc: 'explain', load_data: 'load', unlock: 'unlock', lock: 'lock' };
  return map[type] ?? type;
}

function nodeSqlParser(database: 'MySQL' | 'MariaDB'): Candidate {
  const parser = new (NodeSqlParser as unknown as { Parser: new () => { astify(sql: string, o: object): unknown } }).Parser();
  return {
    name: `node-sql-parser 5.4.0 (${database})`,
    kindOf(sql) {
      try {
        return nspKind(parser.astify(sql, { database }));
      } catch {
        return null;
      }
    },
  };
}

/** dt-sql-parser context class names in Airlock's kind words; the first match, walking down from the statement. */
const DT_KINDS: ReadonlyArray<readonly [RegExp, string]> = [
  [/^(?:Explain|Describe|SimpleDescribe|FullDescribe|AnalyzeDescribe)/, 'explain'],
  [/^(?:SetOperations|QueryExpression)/, 'select'],
  [/^(?:ColumnCreateTable|QueryCreateTable|CopyCreateTable)/, 'create'], [/^(?:DetailRevoke|ShortRevoke|RoleRevoke)/, 'revoke'],
  [/^(?:SimpleSelect|ParenthesisSelect|UnionSelect|UnionParenthesisSelect|WithLateral|Select|Values|Table|With|InterSect|Union)/, 'select'],
  [/^(?:Insert)/, 'insert'], [/^(?:Replace)/, 'replace'], [/Update/, 'update'], [/Delete/, 'delete'],
  [/^Create/, 'create'], [/^Alter/, 'alter'], [/^Drop/, 'drop'], [/^Rename/, 'rename'], [/^Truncate/, 'truncate'],
  [/^Grant/, 'grant'], [/^Revoke/, 'revoke'], [/^Show/, 'show'], [/^(?:SetPassword)/, 'set'], [/^Set/, 'set'], [/^Use/, 'use'],
  [/^(?:StartTransaction|BeginWork)/, 'begin'], [/^Commit/, 'commit'], [/^Rollback/, 'rollback'], [/^SavePoint/, 'savepoint'],
  [/^Release/, 'release'], [/^Call/, 'call'], [/^Do/, 'do'], [/^Load/, 'load'], [/^Handler/, 'handler'], [/^LockTable/, 'lock'],
  [/^UnlockTable/, 'unlock'], [/^Flush/, 'flush'], [/^Kill/, 'kill'], [/^Prepare/, 'prepare'], [/^Execute/, 'execute'],
  [/^Deallocate/, 'deallocate'], [/^AnalyzeTable/, 'analyze'], [/^Optimize/, 'optimize'], [/^Repair/, 'repair'],
  [/^CheckTable/, 'check'], [/^Checksum/, 'checksum'], [/^Help/, 'help'], [/^Xa/, 'xa'], [/^Reset/, 'reset'],
  [/^Purge/, 'purge'], [/^Change/, 'change'], [/^Install/, 'install'], [/^Uninstall/, 'uninstall'], [/^Shutdown/, 'shutdown'],
  [/^CacheIndex/, 'cache'], [/^Diagnostics/, 'get'], [/^BinLog/, 'binlog'],
];
const DT_GENERIC = /^(?:Program|SingleStatement|SqlStatement|DdlStatement|DmlStatement|TransactionStatement|ReplicationStatement|PreparedStatement|CompoundStatement|AdministrationStatement|UtilityStatement|EmptyStatement)Context$/;

interface DtNode { constructor: { name: string }; children?: DtNode[] | null }

function dtKind(node: DtNode): string | null {
  const name = node.constructor.name;
  if (!DT_GENERIC.test(name) && name.endsWith('Context')) {
    const bare = name.slice(0, -'Context'.length).replace(/Statement$/, '');
    for (const [re, kind] of DT_KINDS) if (re.test(bare)) return kind;
    return bare.toLowerCase();
  }
  for (const c of node.children ?? []) {
    if (c.children === undefined) continue;
    const k = dtKind(c);
    if (k !== null) return k;
  }
  return null;
}

function dtSqlParser(): Candidate {
  const parser = new MySQL();
  return {
    name: 'dt-sql-parser 4.5.1 (MySQL, ANTLR4)',
    kindOf(sql) {
      if (parser.validate(sql).length > 0) return null;
      return dtKind(parser.parse(sql) as unknown as DtNode);
    },
  };
}

/** Airlock's own lexer and token classifier, reading the session as the default mode (backslash escapes on). */
const airlock: Candidate = {
  name: 'airlock lexer + token classifier',
  kindOf(sql) {
    const a = analyzeMysql(sql, false);
    return a.ok ? (a.statements[0]?.kind ?? null) : null;
  },
};

const candidates = [nodeSqlParser('MySQL'), nodeSqlParser('MariaDB'), dtSqlParser(), airlock];
const corpus = MYSQL_CORPUS;

// Faithfulness, and a warm-up of every parser (dt-sql-parser's ANTLR caches fill on first use).
const results = candidates.map((c) => {
  let parsed = 0;
  let right = 0;
  const wrong: string[] = [];
  for (const { sql, kind } of corpus) {
    const k = c.kindOf(sql);
    if (k !== null) parsed++;
    if (k === kind) right++;
    else wrong.push(`${kind} ≠ ${k ?? '(no parse)'}: ${sql.slice(0, 70)}`);
  }
  return { c, parsed, right, wrong, times: [] as number[] };
});

for (let r = 0; r < ROUNDS; r++) {
  const order = r % 2 === 0 ? results : [...results].reverse();
  for (const res of order) {
    // Whole passes over the corpus until a quarter second has gone, so fast candidates are timed past JIT warm-up.
    const t0 = performance.now();
    let passes = 0;
    do {
      for (const { sql } of corpus) res.c.kindOf(sql);
      passes++;
    } while (performance.now() - t0 < 250);
    res.times.push(((performance.now() - t0) * 1000) / (corpus.length * passes));
  }
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const pct = (n: number): string => `${((100 * n) / corpus.length).toFixed(1)} %`;

console.log(`corpus: ${corpus.length} statements (test/fixtures/mysql-corpus.ts), ${ROUNDS} rounds, node ${process.version}\n`);
console.log('| parser | parsed | kind right | µs / statement (median) |');
console.log('| --- | ---: | ---: | ---: |');
for (const r of results) console.log(`| ${r.c.name} | ${pct(r.parsed)} | ${pct(r.right)} | ${median(r.times).toFixed(1)} |`);
if (process.argv.includes('--misses')) {
  for (const r of results) {
    console.log(`\n${r.c.name}: ${r.wrong.length} misses`);
    for (const w of r.wrong) console.log(`  ${w}`);
  }
}
