// The walk behind the MySQL masking check (masking.ts): one statement's tokens, clause by clause, placing every use
// of a masked column (a plain select item, a comparison's operand, a sort key, an assignment's target) and refusing the
// rest with a message naming the column. One class, because its parts recurse into one another (a query holds
// conditions that hold queries, a view definition is walked as a query); split over files, the recursion would be too.
import type { MaskCheckOptions } from '../masking/types.js';
import type { MaskedRelation, MysqlMaskCatalog } from './mask-catalog.js';
import type { Token } from './lexer.js';
import { MYSQL_NOT_CALLS } from './builtins.js';

export class MaskRefusal extends Error {
  constructor(
    readonly column: string,
    message: string,
  ) {
    super(message);
    this.name = 'MaskRefusal';
  }
}

/** Where a query block's result goes: to the client (main), a view's columns, a predicate, or somewhere unmaskable. */
type Role = 'main' | 'view' | 'predicate' | 'value' | 'union';
/** What a masked column is doing where it is refused, for the message. */
type Use = 'expression' | 'function' | 'condition' | 'key' | 'copy' | 'values' | 'set' | 'limit' | 'value' | 'union' | 'into';

export const isWord = (t: Token | undefined, ...v: string[]): boolean => t !== undefined && t.type === 'word' && v.includes(t.value);
export const isPunct = (t: Token | undefined, v: string): boolean => t !== undefined && t.type === 'punct' && t.value === v;
export const isOp = (t: Token | undefined, ...v: string[]): boolean => t !== undefined && t.type === 'op' && v.includes(t.value);
export const isIdent = (t: Token | undefined): t is Token => t !== undefined && (t.type === 'word' || t.type === 'qident');
export const lower = (t: Token): string => t.value.toLowerCase();

const SELECT_MODIFIERS = new Set(['ALL', 'DISTINCT', 'DISTINCTROW', 'HIGH_PRIORITY', 'STRAIGHT_JOIN', 'SQL_SMALL_RESULT', 'SQL_BIG_RESULT', 'SQL_BUFFER_RESULT', 'SQL_NO_CACHE', 'SQL_CACHE', 'SQL_CALC_FOUND_ROWS']);
const JOIN_WORDS = new Set(['JOIN', 'INNER', 'CROSS', 'LEFT', 'RIGHT', 'OUTER', 'NATURAL', 'STRAIGHT_JOIN', 'FULL']);
const COMPARISONS = ['=', '<>', '!=', '<', '>', '<=', '>=', '<=>', '&&'];
const OPERAND_BEFORE = ['AND', 'OR', 'XOR', 'NOT', 'LIKE', 'REGEXP', 'RLIKE', 'BETWEEN'];
const OPERAND_AFTER = ['AND', 'OR', 'XOR', 'IS', 'LIKE', 'REGEXP', 'RLIKE', 'BETWEEN', 'IN', 'NOT', 'SOUNDS', 'ESCAPE'];
const QUERY_START = new Set(['SELECT', 'WITH', 'VALUES', 'TABLE']);
/** Statements that read no column values, whatever relations they name. */
const NO_VALUES = new Set(['SHOW', 'DESCRIBE', 'DESC', 'DROP', 'TRUNCATE', 'LOCK', 'UNLOCK', 'OPTIMIZE', 'REPAIR', 'CHECK', 'FLUSH', 'USE', 'HELP']);

/** One item of a view's top-level select list: its column name and, for a plain column reference, where it comes from. */
export interface ViewItem {
  alias: string;
  source: { schema: string | null; table: string | null; column: string } | null;
}
export interface TableRef {
  schema: string | null;
  table: string;
  alias: string | null;
}

export class Walk {
  private readonly close: Int32Array;
  private readonly enclosing: Int32Array;
  private readonly visited: Uint8Array;
  /** Masked column names (lower case) of the relations the statement names → the column as messages name it. */
  readonly names = new Map<string, string>();
  /** Indices of tokens naming a relation that holds masked columns. */
  readonly relAt: number[] = [];
  /** The statement returns a plan (EXPLAIN), not rows. */
  plan = false;
  readonly viewItems: ViewItem[] = [];
  readonly viewRefs: TableRef[] = [];

  constructor(
    readonly t: Token[],
    readonly catalog: MysqlMaskCatalog,
    readonly opts: MaskCheckOptions,
  ) {
    const n = t.length;
    this.close = new Int32Array(n).fill(-1);
    this.enclosing = new Int32Array(n).fill(-1);
    this.visited = new Uint8Array(n);
    const stack: number[] = [];
    for (let i = 0; i < n; i++) {
      this.enclosing[i] = stack.length > 0 ? stack[stack.length - 1]! : -1;
      if (isPunct(t[i], '(')) stack.push(i);
      else if (isPunct(t[i], ')') && stack.length > 0) this.close[stack.pop()!] = i;
    }
  }

  /** The relations the statement names; refuses one that may not be read at all. */
  relations(write: boolean): MaskedRelation[] {
    const out: MaskedRelation[] = [];
    for (let i = 0; i < this.t.length; i++) {
      const x = this.t[i]!;
      if (!isIdent(x)) continue;
      const r = this.catalog.relation(lower(x));
      if (r === undefined) continue;
      if (r.refused !== null) throw new MaskRefusal(r.name, r.refused);
      if (write && r.writeRefused !== null) throw new MaskRefusal(r.name, `the statement writes ${r.name}, and ${r.writeRefused}; an admin can do this write without masking`);
      if (r.columns.size === 0) continue;
      this.relAt.push(i);
      if (!out.includes(r)) out.push(r);
      for (const [k, c] of r.columns) if (!this.names.has(k)) this.names.set(k, c.name);
    }
    return out;
  }

  // ── refusals ────────────────────────────────────────────────────────────────────────────────────────────────────

  private refuse(at: number, use: Use): never {
    const col = this.names.get(lower(this.t[at]!)) ?? this.t[at]!.value;
    throw new MaskRefusal(col, `${col} is masked for your role, and ${USE_TEXT[use]}`);
  }

  private structure(at: number): never {
    const x = this.t[Math.min(at, this.t.length - 1)];
    throw new MaskRefusal('', `the statement names relations with masked columns (${[...this.names.values()].join(', ')}), and the gateway could not follow its structure near "${x?.value ?? 'the end'}"; write it as a plain SELECT, INSERT, UPDATE or DELETE`);
  }

  private starRefusal(a: number, b: number): void {
    const at = this.relAt.find((i) => i >= a && i < b);
    if (at === undefined) return;
    const r = this.catalog.relation(lower(this.t[at]!))!;
    const col = [...r.columns.values()][0]!.name;
    throw new MaskRefusal(col, `a * over ${r.name}, which has masked column ${col}, inside a subquery, derived table, CTE, UNION, INSERT … SELECT or SELECT … INTO hides which result column is masked; name the columns you need, or use * in a plain top-level SELECT`);
  }

  // ── token helpers ───────────────────────────────────────────────────────────────────────────────────────────────

  /** A masked column name used as a column: not a qualifier, not a function name, not an alias after AS. */
  isMention(i: number): boolean {
    const x = this.t[i];
    if (!isIdent(x) || !this.names.has(lower(x))) return false;
    const next = this.t[i + 1];
    if (isPunct(next, '.') || (isPunct(next, '(') && next!.start === x.end)) return false;
    return !isWord(this.t[i - 1], 'AS');
  }

  private mark(a: number, b: number): void {
    for (let i = a; i < b; i++) this.visited[i] = 1;
  }

  /** Index past `ident(.ident){0,2}` starting at `a` (a itself when no identifier starts there). */
  private chainEnd(a: number, e: number): number {
    if (a >= e || !isIdent(this.t[a])) return a;
    let k = a + 1;
    for (let parts = 1; parts < 3 && k + 1 < e && isPunct(this.t[k], '.') && isIdent(this.t[k + 1]); parts++) k += 2;
    return k;
  }

  private chainStart(i: number): number {
    let k = i;
    while (k >= 2 && isPunct(this.t[k - 1], '.') && isIdent(this.t[k - 2])) k -= 2;
    return k;
  }

  private closeOf(k: number, e: number): number {
    const c = this.close[k]!;
    if (c < 0 || c >= e) this.structure(k);
    return c;
  }

  isSubquery(k: number): boolean {
    let j = k + 1;
    while (isPunct(this.t[j], '(')) j++;
    return isWord(this.t[j], ...QUERY_START);
  }

  /** A `(` opening a function's arguments (not a keyword's, a type's, a list's or a subquery's). */
  isCall(k: number): boolean {
    const p = this.t[k - 1];
    if (p === undefined || this.isSubquery(k)) return false;
    if (p.type === 'qident') return true;
    if (p.type !== 'word') return false;
    if (isPunct(this.t[k - 2], '.')) return true;
    return !MYSQL_NOT_CALLS.has(p.value) && !['OVER', 'ANY', 'SOME', 'LATERAL', 'AGAINST'].includes(p.value);
  }

  /** COUNT(*), COUNT(col), COUNT(DISTINCT a, b): counts only. */
  private isCount(k: number): boolean {
    const p = this.t[k - 1];
    if (!isWord(p, 'COUNT') || p!.end !== this.t[k]!.start || isPunct(this.t[k - 2], '.')) return false;
    const c = this.close[k]!;
    let j = k + 1;
    if (isWord(this.t[j], 'DISTINCT', 'ALL')) j++;
    if (isOp(this.t[j], '*') && j + 1 === c) return true;
    for (;;) {
      const end = this.chainEnd(j, c);
      if (end === j) return false;
      if (end === c) return true;
      if (!isPunct(this.t[end], ',')) return false;
      j = end + 1;
    }
  }

  /** [a, b) split at depth-0 commas. */
  private commas(a: number, b: number): [number, number][] {
    const out: [number, number][] = [];
    let from = a;
    for (let k = a; k < b; k++) {
      if (isPunct(this.t[k], '(')) k = this.closeOf(k, b);
      else if (isPunct(this.t[k], ',')) {
        out.push([from, k]);
        this.visited[k] = 1;
        from = k + 1;
      }
    }
    out.push([from, b]);
    return out;
  }

  /** The first depth-0 index in [a, b) where `test` holds, or b. */
  private find(a: number, b: number, test: (k: number) => boolean): number {
    for (let k = a; k < b; k++) {
      if (isPunct(this.t[k], '(')) k = this.closeOf(k, b);
      else if (test(k)) return k;
    }
    return b;
  }

  /** Every masked-column mention the walk did not place: refused (fail closed). */
  leftovers(): void {
    for (let i = 0; i < this.t.length; i++) if (!this.visited[i] && this.isMention(i)) this.structure(i);
  }

  // ── queries ─────────────────────────────────────────────────────────────────────────────────────────────────────

  query(a: number, b: number, role: Role): void {
    let i = a;
    if (isWord(this.t[i], 'WITH')) i = this.with(i, b);
    const terms: [number, number][] = [];
    let from = i;
    for (let k = i; k < b; k++) {
      if (isPunct(this.t[k], '(')) k = this.closeOf(k, b);
      else if (isWord(this.t[k], 'UNION', 'INTERSECT', 'EXCEPT')) {
        terms.push([from, k]);
        this.visited[k] = 1;
        from = isWord(this.t[k + 1], 'ALL', 'DISTINCT') ? k + 2 : k + 1;
      }
    }
    terms.push([from, b]);
    const r: Role = terms.length > 1 && (role === 'main' || role === 'view') ? 'union' : role;
    for (const [x, y] of terms) this.term(x, y, r);
  }

  /** WITH [RECURSIVE] name [(cols)] AS (query), …: each CTE's result loses its origin. Returns where the body starts. */
  private with(a: number, b: number): number {
    let k = a + 1;
    if (isWord(this.t[k], 'RECURSIVE')) k++;
    this.mark(a, k);
    for (;;) {
      if (!isIdent(this.t[k])) this.structure(k);
      this.visited[k] = 1;
      k++;
      if (isPunct(this.t[k], '(') && !isWord(this.t[k - 1], 'AS')) {
        const c = this.closeOf(k, b);
        this.mark(k, c + 1);
        k = c + 1;
      }
      if (!isWord(this.t[k], 'AS') || !isPunct(this.t[k + 1], '(')) this.structure(k);
      const c = this.closeOf(k + 1, b);
      this.query(k + 2, c, 'value');
      this.mark(k, k + 2);
      this.visited[c] = 1;
      k = c + 1;
      if (!isPunct(this.t[k], ',')) return k;
      this.visited[k] = 1;
      k++;
    }
  }

  private term(a: number, b: number, role: Role): void {
    if (a >= b) this.structure(a);
    const x = this.t[a]!;
    if (isPunct(x, '(')) {
      const c = this.closeOf(a, b);
      this.query(a + 1, c, role === 'main' && this.hasInto(c + 1, b) ? 'value' : role);
      this.tail(c + 1, b);
    } else if (isWord(x, 'SELECT')) {
      this.select(a, b, role);
    } else if (isWord(x, 'VALUES')) {
      this.expr(a + 1, b, 'values');
    } else if (isWord(x, 'TABLE')) {
      // TABLE t is SELECT * FROM t.
      const end = this.chainEnd(a + 1, b);
      if ((role !== 'main' || this.hasInto(end, b)) && role !== 'predicate') this.starRefusal(a, end);
      this.mark(a, end);
      this.tail(end, b);
    } else {
      this.structure(a);
    }
  }

  /** ORDER BY / LIMIT / INTO after a parenthesized query or TABLE. */
  private tail(a: number, b: number): void {
    if (a >= b) return;
    const order = this.find(a, b, (k) => isWord(this.t[k], 'ORDER') && isWord(this.t[k + 1], 'BY'));
    const limit = this.find(a, b, (k) => isWord(this.t[k], 'LIMIT', 'OFFSET', 'FETCH', 'INTO', 'FOR', 'LOCK'));
    if (Math.min(order, limit) !== a) this.structure(a);
    if (order < b) {
      this.mark(order, order + 2);
      this.keys(order + 2, limit > order ? limit : b);
    }
    if (limit < b) this.expr(limit, b, 'limit');
  }

  /** Whether [a, b) has INTO at depth 0 (the rows then go to variables or files, not to the client). */
  private hasInto(a: number, b: number): boolean {
    return this.find(a, b, (k) => isWord(this.t[k], 'INTO')) < b;
  }

  private select(a: number, b: number, role: Role): void {
    const clauses: { word: string; at: number }[] = [];
    for (let k = a + 1; k < b; k++) {
      const x = this.t[k]!;
      if (isPunct(x, '(')) {
        k = this.closeOf(k, b);
        continue;
      }
      if (x.type !== 'word') continue;
      const next = this.t[k + 1];
      const starts =
        ['FROM', 'WHERE', 'HAVING', 'WINDOW', 'LIMIT', 'INTO', 'PROCEDURE', 'OFFSET', 'FETCH'].includes(x.value) ||
        (isWord(x, 'GROUP', 'ORDER') && isWord(next, 'BY')) ||
        (isWord(x, 'FOR') && isWord(next, 'UPDATE', 'SHARE')) ||
        (isWord(x, 'LOCK') && isWord(next, 'IN'));
      if (starts) clauses.push({ word: x.value, at: k });
    }
    const listEnd = clauses[0]?.at ?? b;
    const into = clauses.some((c) => c.word === 'INTO');
    let i = a + 1;
    while (i < listEnd && isWord(this.t[i], ...SELECT_MODIFIERS)) i++;
    this.mark(a, i);
    this.selectList(i, listEnd, role, into, a, b);
    clauses.forEach((c, n) => {
      const end = clauses[n + 1]?.at ?? b;
      this.visited[c.at] = 1;
      switch (c.word) {
        case 'FROM':
          return this.from(c.at + 1, end, role === 'view' ? this.viewRefs : null);
        case 'WHERE':
        case 'HAVING':
          return this.condition(c.at + 1, end);
        case 'GROUP':
        case 'ORDER':
          this.visited[c.at + 1] = 1;
          return this.keys(c.at + 2, end);
        case 'WINDOW':
          return this.windows(c.at + 1, end);
        case 'PROCEDURE':
          throw new MaskRefusal('', 'SELECT … PROCEDURE runs a procedure over the rows (PROCEDURE ANALYSE shows their values), which the gateway cannot mask; select the columns instead');
        default:
          return this.expr(c.at + 1, end, 'limit');
      }
    });
  }

  private selectList(a: number, b: number, role: Role, into: boolean, blockA: number, blockB: number): void {
    for (const [x, y] of this.commas(a, b)) this.item(x, y, into ? 'value' : role, into, blockA, blockB);
  }

  private item(x: number, y: number, role: Role, into: boolean, blockA: number, blockB: number): void {
    if (x >= y) this.structure(x);
    const t = this.t;
    // *, tbl.*, db.tbl.*
    if (isOp(t[y - 1], '*') && (y - 1 === x || (isPunct(t[y - 2], '.') && this.chainEnd(x, y) === y - 2))) {
      this.mark(x, y);
      if (role === 'main') return;
      if (role === 'view') throw new MaskRefusal('', 'a view definition with * (the server expands it when it stores the view)');
      else if (role !== 'predicate') this.starRefusal(blockA, blockB);
      return;
    }
    const c = this.chainEnd(x, y);
    let plain = false;
    let alias: Token | null = null;
    let explicit = false;
    const aliasable = (k: number) => ['word', 'qident', 'string', 'dqstr'].includes(t[k]?.type ?? '');
    if (c > x) {
      if (c === y) plain = true;
      else if (isWord(t[c], 'AS') && c + 2 === y && aliasable(c + 1)) [plain, alias, explicit] = [true, t[c + 1]!, true];
      else if (c + 1 === y && aliasable(c)) [plain, alias] = [true, t[c]!];
    }
    if (plain) {
      if (alias !== null && !explicit && isIdent(alias) && this.names.has(lower(alias))) {
        const col = this.names.get(lower(alias))!;
        throw new MaskRefusal(col, `${col} is masked for your role, and an alias with its name must be written with AS (… AS ${alias.value}), so that the gateway can tell it from the column`);
      }
      const col = c - 1;
      const mention = this.isMention(col);
      if (mention) {
        if (role === 'predicate' && this.opts.predicates === 'refuse') this.refuse(col, 'condition');
        else if (role === 'value' || role === 'union') this.refuse(col, into ? 'into' : role);
      }
      if (role === 'view') {
        const parts = [];
        for (let k = x; k < c; k += 2) parts.push(t[k]!.value);
        const column = parts[parts.length - 1]!;
        this.viewItems.push({
          alias: alias === null ? column : alias.type === 'string' ? alias.value.slice(1, -1) : alias.value,
          source: { schema: parts.length === 3 ? parts[0]! : null, table: parts.length >= 2 ? parts[parts.length - 2]! : null, column },
        });
      }
      this.mark(x, y);
      return;
    }
    if (role === 'view') {
      const named = isWord(t[y - 2], 'AS') && aliasable(y - 1);
      this.viewItems.push({ alias: named ? t[y - 1]!.value : '', source: null });
    }
    this.expr(x, y, role === 'main' ? 'expression' : role === 'union' ? 'union' : into ? 'into' : 'expression');
  }

  // ── clauses ─────────────────────────────────────────────────────────────────────────────────────────────────────

  /** Any expression: a masked column in it is refused; subqueries in it are walked; COUNT(col) and OVER (…) keys pass. */
  private expr(a: number, b: number, use: Use): void {
    for (let k = a; k < b; k++) {
      const x = this.t[k]!;
      if (isPunct(x, '(')) {
        const c = this.closeOf(k, b);
        if (this.isSubquery(k)) {
          // Its value feeds a comparison (a truth value), unless `=` assigns it (SET) or the comparison is outside.
          const p = k - 1 >= a ? this.t[k - 1] : undefined;
          const predicate = isWord(p, 'EXISTS', 'IN', 'ANY', 'SOME', 'ALL') || (isOp(p, ...COMPARISONS) && use !== 'set');
          this.query(k + 1, c, predicate ? 'predicate' : 'value');
          this.visited[k] = this.visited[c] = 1;
          k = c;
        } else if (isWord(this.t[k - 1], 'OVER')) {
          this.window(k + 1, c);
          this.visited[k] = this.visited[c] = 1;
          k = c;
        } else if (this.isCount(k)) {
          this.mark(k, c + 1);
          k = c;
        } else {
          this.visited[k] = 1;
        }
        continue;
      }
      if (this.isMention(k)) this.refuse(k, use);
      this.visited[k] = 1;
    }
  }

  /** WHERE / ON / HAVING: masked columns only as plain operands of comparisons (unless the role refuses them). */
  private condition(a: number, b: number): void {
    for (let k = a; k < b; k++) {
      const x = this.t[k]!;
      if (isPunct(x, '(')) {
        const c = this.closeOf(k, b);
        if (this.isSubquery(k)) {
          // A comparison's operand, or EXISTS / IN / ANY's: only a truth value comes out; `@v := (SELECT …)` keeps it.
          const p = k - 1 >= a ? this.t[k - 1] : undefined;
          const predicate = isWord(p, 'EXISTS', 'IN', 'ANY', 'SOME', 'ALL') || this.operand(k, c, a, b);
          this.query(k + 1, c, predicate ? 'predicate' : 'value');
          this.visited[k] = this.visited[c] = 1;
          k = c;
        } else if (this.isCount(k)) {
          for (let j = k; j < c; j++) if (this.isMention(j) && this.opts.predicates === 'refuse') this.refuse(j, 'condition');
          this.mark(k, c + 1);
          k = c;
        } else if (this.isCall(k) || isWord(this.t[k - 1], 'OVER')) {
          if (isWord(this.t[k - 1], 'OVER')) this.window(k + 1, c);
          else this.expr(k + 1, c, 'function');
          this.visited[k] = this.visited[c] = 1;
          k = c;
        } else {
          this.visited[k] = 1;
        }
        continue;
      }
      if (this.isMention(k)) {
        if (this.opts.predicates === 'refuse') this.refuse(k, 'condition');
        let [u0, u1] = [this.chainStart(k), k];
        while (isPunct(this.t[u0 - 1], '(') && this.close[u0 - 1] === u1 + 1 && u0 - 1 >= a && u1 + 1 < b && !this.isCall(u0 - 1)) [u0, u1] = [u0 - 1, u1 + 1];
        if (!this.operand(u0, u1, a, b)) this.refuse(k, 'function');
      }
      this.visited[k] = 1;
    }
  }

  /** Whether [u0, u1] stands where only its comparison can use it. */
  private operand(u0: number, u1: number, a: number, b: number): boolean {
    const p = u0 - 1 >= a ? this.t[u0 - 1] : undefined;
    const n = u1 + 1 < b ? this.t[u1 + 1] : undefined;
    const before = p === undefined || isWord(p, ...OPERAND_BEFORE) || isOp(p, ...COMPARISONS, '!') || isPunct(p, '(') || isPunct(p, ',');
    const after = n === undefined || isWord(n, ...OPERAND_AFTER) || isOp(n, ...COMPARISONS) || isPunct(n, ')') || isPunct(n, ',');
    if (!before || !after) return false;
    const q = this.enclosing[u0]!;
    if (q >= a && this.isCall(q)) return false;
    if (!isPunct(p, ',') && !isPunct(n, ',')) return true;
    // One of a list: an IN list, or a row constructor that is itself an operand.
    if (q < a) return false;
    if (isWord(this.t[q - 1], 'IN')) return true;
    return this.operand(isWord(this.t[q - 1], 'ROW') ? q - 1 : q, this.close[q]!, a, b);
  }

  /** ORDER BY / GROUP BY / PARTITION BY keys: a plain column [ASC|DESC] (unless the role refuses it), else no masked column. */
  private keys(a: number, b: number): void {
    for (const [x, y] of this.commas(a, b)) {
      let z = y;
      if (isWord(this.t[z - 1], 'ROLLUP') && isWord(this.t[z - 2], 'WITH')) z -= 2;
      if (isWord(this.t[z - 1], 'ASC', 'DESC')) z--;
      const c = this.chainEnd(x, z);
      if (c > x && c === z) {
        if (this.isMention(c - 1) && this.opts.predicates === 'refuse') this.refuse(c - 1, 'condition');
        this.mark(x, y);
      } else {
        this.expr(x, y, 'key');
      }
    }
  }

  /** A window specification: [name] [PARTITION BY keys] [ORDER BY keys] [frame]. */
  private window(a: number, b: number): void {
    const part = this.find(a, b, (k) => isWord(this.t[k], 'PARTITION') && isWord(this.t[k + 1], 'BY'));
    const order = this.find(a, b, (k) => isWord(this.t[k], 'ORDER') && isWord(this.t[k + 1], 'BY'));
    const frame = this.find(a, b, (k) => isWord(this.t[k], 'ROWS', 'RANGE', 'GROUPS'));
    const first = Math.min(part, order, frame);
    this.expr(a, first, 'key');
    if (part < b) {
      this.mark(part, part + 2);
      this.keys(part + 2, Math.min(order > part ? order : b, frame > part ? frame : b));
    }
    if (order < b) {
      this.mark(order, order + 2);
      this.keys(order + 2, frame > order ? frame : b);
    }
    if (frame < b) this.expr(frame, b, 'key');
  }

  private windows(a: number, b: number): void {
    for (const [x, y] of this.commas(a, b)) {
      if (!isIdent(this.t[x]) || !isWord(this.t[x + 1], 'AS') || !isPunct(this.t[x + 2], '(') || this.close[x + 2] !== y - 1) this.structure(x);
      this.mark(x, x + 3);
      this.visited[y - 1] = 1;
      this.window(x + 3, y - 1);
    }
  }

  /** FROM / JOIN / UPDATE and DELETE table references: names and aliases pass, ON is a condition, subqueries are walked. */
  from(a: number, b: number, refs: TableRef[] | null): void {
    let expectTable = true;
    for (let k = a; k < b; k++) {
      const x = this.t[k]!;
      const prev = this.t[k - 1];
      if (isPunct(x, '(')) {
        const c = this.closeOf(k, b);
        this.visited[k] = this.visited[c] = 1;
        if (this.isSubquery(k)) {
          this.query(k + 1, c, 'value');
          // [AS] alias [(column names)]
          let j = c + 1;
          if (isWord(this.t[j], 'AS')) j++;
          if (isIdent(this.t[j]) && !JOIN_WORDS.has(this.t[j]!.value) && !isWord(this.t[j], 'ON', 'USING', 'WHERE')) j++;
          if (isPunct(this.t[j], '(') && j < b) j = this.closeOf(j, b) + 1;
          this.mark(c + 1, j);
          k = j - 1;
          expectTable = false;
        } else if (isWord(prev, 'INDEX', 'KEY', 'PARTITION') || (isWord(prev, 'JOIN', 'BY') && this.t.slice(Math.max(a, k - 4), k).some((y) => isWord(y, 'FOR')))) {
          this.mark(k, c + 1); // index hints and partition names
          k = c;
        } else if (isWord(prev, 'USING')) {
          for (let j = k + 1; j < c; j++) if (this.isMention(j) && this.opts.predicates === 'refuse') this.refuse(j, 'condition');
          this.mark(k, c + 1);
          k = c;
        } else if (this.isCall(k)) {
          this.expr(k + 1, c, 'function');
          k = c;
        } else {
          this.from(k + 1, c, refs);
          k = c;
        }
        continue;
      }
      this.visited[k] = 1;
      if (isWord(x, 'ON')) {
        const end = this.find(k + 1, b, (j) => isPunct(this.t[j], ',') || isWord(this.t[j], ...JOIN_WORDS));
        this.condition(k + 1, end);
        k = end - 1;
        expectTable = false;
      } else if (isPunct(x, ',') || isWord(x, ...JOIN_WORDS)) {
        expectTable = true;
      } else if (expectTable && isIdent(x)) {
        const end = this.chainEnd(k, b);
        let j = end;
        if (isWord(this.t[j], 'AS')) j++;
        const alias = isIdent(this.t[j]) && !JOIN_WORDS.has(this.t[j]!.value) && !isWord(this.t[j], 'ON', 'USING', 'WHERE', 'FOR', 'USE', 'FORCE', 'IGNORE', 'PARTITION') ? this.t[j]!.value : null;
        refs?.push({ schema: end - k === 3 ? x.value : null, table: this.t[end - 1]!.value, alias });
        this.mark(k, alias === null ? end : j + 1);
        k = (alias === null ? end : j + 1) - 1;
        expectTable = false;
      }
    }
  }

  // ── statements ──────────────────────────────────────────────────────────────────────────────────────────────────

  /** `target = value, …` (UPDATE … SET, INSERT … SET, ON DUPLICATE KEY UPDATE): a masked target is fine, a masked value is copied. */
  private assignments(a: number, b: number): void {
    for (const [x, y] of this.commas(a, b)) {
      const c = this.chainEnd(x, y);
      if (c === x || !isOp(this.t[c], '=', ':=')) this.structure(x);
      this.mark(x, c + 1);
      this.expr(c + 1, y, 'copy');
    }
  }

  statement(a: number, b: number): void {
    const t = this.t;
    const w = t[a];
    if (isPunct(w, '(') || isWord(w, 'SELECT', 'TABLE', 'VALUES')) return this.query(a, b, 'main');
    if (w?.type !== 'word') this.structure(a);
    switch (w!.value) {
      case 'WITH': {
        const body = this.find(a + 1, b, (k) => isWord(t[k], 'SELECT', 'TABLE', 'VALUES', 'UPDATE', 'DELETE') || isPunct(t[k], '('));
        if (isWord(t[body], 'UPDATE', 'DELETE')) {
          this.with(a, body);
          return this.statement(body, b);
        }
        return this.query(a, b, 'main');
      }
      case 'UPDATE': {
        let k = a + 1;
        while (isWord(t[k], 'LOW_PRIORITY', 'IGNORE')) k++;
        const set = this.find(k, b, (j) => isWord(t[j], 'SET'));
        if (set === b) this.structure(k);
        this.mark(a, k);
        this.visited[set] = 1;
        this.from(k, set, null);
        const where = this.find(set + 1, b, (j) => isWord(t[j], 'WHERE', 'ORDER', 'LIMIT'));
        this.assignments(set + 1, where);
        return this.clauses(where, b);
      }
      case 'DELETE': {
        const where = this.find(a + 1, b, (j) => isWord(t[j], 'WHERE', 'ORDER', 'LIMIT', 'RETURNING'));
        this.visited[a] = 1;
        this.from(a + 1, where, null);
        return this.clauses(where, b);
      }
      case 'INSERT':
      case 'REPLACE':
        return this.insert(a, b);
      case 'SET':
      case 'DO': {
        if (isWord(t[a + 1], 'STATEMENT')) {
          const at = this.find(a + 2, b, (j) => isWord(t[j], 'FOR'));
          this.expr(a, at, 'set');
          this.visited[at] = 1;
          return this.statement(at + 1, b);
        }
        return this.expr(a, b, 'set');
      }
      case 'ANALYZE':
        if (isWord(t[a + 1], 'TABLE', 'TABLES', 'NO_WRITE_TO_BINLOG', 'LOCAL')) return this.mark(a, b);
        return this.explain(a, b);
      case 'EXPLAIN':
      case 'DESCRIBE':
      case 'DESC':
        return this.explain(a, b);
      default:
        if (NO_VALUES.has(w!.value)) return this.mark(a, b);
        if (isWord(w, 'CREATE', 'ALTER', 'RENAME')) {
          const col = [...this.names.values()][0]!;
          throw new MaskRefusal(col, `the statement names a relation with masked columns (${col}), and CREATE, ALTER or RENAME around it could copy or rename them out of the mask; an admin can do it without masking`);
        }
        {
          const col = [...this.names.values()][0]!;
          throw new MaskRefusal(col, `the statement names a relation with masked columns (${col}), and the gateway does not know how ${w!.value} reads them; use SELECT, INSERT, UPDATE or DELETE`);
        }
    }
  }

  /** WHERE / ORDER BY / LIMIT / RETURNING after UPDATE or DELETE. */
  private clauses(a: number, b: number): void {
    const at = (word: string) => this.find(a, b, (j) => isWord(this.t[j], word));
    const where = at('WHERE');
    const order = at('ORDER');
    const limit = at('LIMIT');
    const ret = at('RETURNING');
    const next = (from: number) => Math.min(...[where, order, limit, ret, b].filter((x) => x > from));
    if (a < b && ![where, order, limit, ret].includes(a)) this.structure(a);
    if (where < b) {
      this.visited[where] = 1;
      this.condition(where + 1, next(where));
    }
    if (order < b) {
      if (!isWord(this.t[order + 1], 'BY')) this.structure(order);
      this.mark(order, order + 2);
      this.keys(order + 2, next(order));
    }
    if (limit < b) this.expr(limit, next(limit), 'limit');
    if (ret < b) {
      this.visited[ret] = 1;
      this.selectList(ret + 1, b, 'main', false, 0, this.t.length);
    }
  }

  private insert(a: number, b: number): void {
    const t = this.t;
    let k = a + 1;
    while (isWord(t[k], 'LOW_PRIORITY', 'DELAYED', 'HIGH_PRIORITY', 'IGNORE', 'INTO')) k++;
    const end = this.chainEnd(k, b);
    if (end === k) this.structure(k);
    k = end;
    if (isWord(t[k], 'PARTITION') && isPunct(t[k + 1], '(')) k = this.closeOf(k + 1, b) + 1;
    if (isPunct(t[k], '(') && !this.isSubquery(k)) k = this.closeOf(k, b) + 1; // the target columns
    this.mark(a, k);
    const dup = this.find(k, b, (j) => isWord(t[j], 'ON') && isWord(t[j + 1], 'DUPLICATE'));
    const ret = this.find(k, b, (j) => isWord(t[j], 'RETURNING'));
    const bodyEnd = Math.min(dup, ret);
    if (isWord(t[k], 'VALUES', 'VALUE')) this.expr(k, bodyEnd, 'values');
    else if (isWord(t[k], 'SET')) {
      this.visited[k] = 1;
      this.assignments(k + 1, bodyEnd);
    } else if (isWord(t[k], ...QUERY_START) || isPunct(t[k], '(')) this.query(k, bodyEnd, 'value');
    else this.structure(k);
    if (dup < b) {
      if (!isWord(t[dup + 2], 'KEY') || !isWord(t[dup + 3], 'UPDATE')) this.structure(dup);
      this.mark(dup, dup + 4);
      this.assignments(dup + 4, ret > dup ? ret : b);
    }
    if (ret < b) {
      this.visited[ret] = 1;
      this.selectList(ret + 1, b, 'main', false, 0, this.t.length);
    }
  }

  /** EXPLAIN shows plans, not values, except FORMAT=JSON (and EXPLAIN ANALYZE) print conditions with constants the optimizer read. */
  private explain(a: number, b: number): void {
    const t = this.t;
    let k = a + 1;
    let shows = isWord(t[a], 'EXPLAIN') && isWord(t[a + 1], 'ANALYZE');
    for (;;) {
      if (isWord(t[k], 'EXTENDED', 'PARTITIONS', 'ANALYZE')) k++;
      else if (isWord(t[k], 'FORMAT') && isOp(t[k + 1], '=')) {
        if (!isWord(t[k + 2], 'TRADITIONAL')) shows = true;
        k += 3;
      } else break;
    }
    this.mark(a, k);
    if (!(isWord(t[k], ...QUERY_START, 'UPDATE', 'DELETE', 'INSERT', 'REPLACE') || isPunct(t[k], '('))) return this.mark(k, b); // DESCRIBE table
    if (shows) {
      const col = [...this.names.values()][0]!;
      throw new MaskRefusal(col, `EXPLAIN FORMAT=JSON / ANALYZE FORMAT=JSON and EXPLAIN ANALYZE print conditions with values the optimizer read from the tables, and this statement reads a relation with masked columns (${col}); use plain EXPLAIN`);
    }
    this.statement(k, b);
    this.plan = true;
  }
}

const USE_TEXT: Record<Use, string> = {
  expression: 'the statement uses it in an expression or function, whose result the server reports without its origin, so the gateway could not mask it; select the column itself (it is shown masked) or filter on it with a plain comparison',
  function: 'the statement passes it to a function or operator in a condition; compare the column itself (=, <>, <, >, LIKE, REGEXP, IN, BETWEEN, IS NULL)',
  condition: 'your role does not allow masked columns in conditions, joins, ORDER BY or GROUP BY (masking predicates: refuse); filter and sort on other columns',
  key: 'the statement orders, groups or partitions by an expression on it; use the column itself',
  copy: 'the statement would copy its value into another column, variable or row (UPDATE … SET, INSERT … SET, ON DUPLICATE KEY UPDATE); write literal values',
  values: 'VALUES would copy its value into a row; write literal values',
  set: 'SET or DO would copy its value into a variable; select it to the client instead',
  limit: 'the statement uses it where only constants belong (LIMIT, INTO, FOR …)',
  value: 'the statement selects it inside a subquery, derived table, CTE or INSERT … SELECT, whose result columns the server reports without their origin; select it directly from its table in a plain top-level SELECT',
  union: 'the statement selects it in a UNION, INTERSECT or EXCEPT, whose result columns the server reports without their origin; run each SELECT on its own',
  into: 'SELECT … INTO would copy its value where the gateway cannot mask it; select it to the client instead',
};
