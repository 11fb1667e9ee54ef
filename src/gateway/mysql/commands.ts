// What the gateway does with each client command: statements (COM_QUERY, prepared statements) are inspected and
// audited, schema changes checked against the resource, KILL routed to the right session, and everything the
// gateway does not relay refused with an ERR the person reads.
import type { Decision } from '../../inspect/index.js';
import type { StatementOutcome } from '../core/session-lifecycle.js';
import { SAFE_CHARSETS, type LexedStatement, type Token } from '../../inspect/mysql/index.js';
import { COM, errPayload, okPayload, type Packet } from './packets.js';
import type { Outcome, Relay } from './relay.js';
import type { NotRun, StatementHold } from '../core/statement-hold.js';
import { executeParameters, type ParamState } from './statement-params.js';
import type { MaskVerdict } from '../../inspect/masking/types.js';
import type { ResultMasker } from './result-masking.js';

export interface MysqlInspector {
  inspectAsync(sql: string): Promise<Decision>;
  /** The text's statements with every version comment read as code (all the tokens any server reads); null when unreadable. */
  lex(sql: string): LexedStatement[] | null;
}

/** A statement as the core audits it, with this session's number and the command that carried it. */
export interface StatementRecord extends StatementOutcome {
  /** This session's statement number (as statement.start's). */
  logged: number;
  /** 'query' (COM_QUERY), 'prepare' (a refused COM_STMT_PREPARE) or 'execute' (COM_STMT_EXECUTE, with its prepared text). */
  command: 'query' | 'prepare' | 'execute';
}

export interface CommandContext {
  relay: Relay;
  inspector: MysqlInspector;
  /** Guardrails apply (read-only or any deny rule): multi-statements stay off. */
  guarded: boolean;
  maxRows: number | null;
  /** Whether the session read backslashes as plain characters at login (the inspector was told so). */
  noBackslashEscapes: boolean;
  /** null when the resource covers the schema, else the refusal. */
  schemaRefusal(name: string): string | null;
  /** KILL [QUERY] n from the client: null when done, else the refusal. */
  killSession(target: number, queryOnly: boolean): Promise<string | null>;
  /** Statements that set the upstream session up again after COM_RESET_CONNECTION. */
  setup: string[];
  onStatement(r: StatementRecord): void;
  /** A session that may write: each statement's statement.start is durable before the server sees it. */
  logBeforeForward: ((run: { logged: number; text: string; fingerprint: string | null; review_id?: string }) => Promise<void>) | null;
  /** The role's statement review rule, when it holds statements until a person decides (../core/statement-hold.ts). */
  hold?: StatementHold | null;
  /** The session's column masking (./masking-session.ts): each statement is checked, results of those that may show masked columns masked. */
  masking?: { check(sql: string): MaskVerdict; masker(binary: boolean): ResultMasker } | null;
}

/** Error number and SQLSTATE of each way a held statement does not run (MySQL has no notice to say it is held). */
const NOT_RUN: Record<NotRun, [number, string]> = {
  denied: [1142, '42000'],
  mismatch: [1142, '42000'],
  used: [1142, '42000'],
  timed_out: [1317, '70100'],
  withdrawn: [1317, '70100'],
  failed: [1105, 'HY000'],
  capped: [1226, '42000'],
};

const ER_NOT_ALLOWED = 1142;
const ER_DB_DENIED = 1044;
const ER_UNKNOWN_STMT = 1243;
const ER_NOT_SUPPORTED = 1235;
const LAST_STATEMENT = 0xffffffff;

/**
 * Asked of the upstream session after login and after COM_RESET_CONNECTION: one row when it reads statement text as
 * the gateway's check does (no ANSI_QUOTES in its sql_mode, which the status flags do not report, and a character
 * set in which every ASCII byte is that character). The server's global sql_mode, init_connect or
 * skip-character-set-client-handshake can set either before the first statement. Single quotes and ASCII only, so it
 * reads the same whatever the session's settings.
 */
const SAFE_LIST = [...SAFE_CHARSETS].map((c) => `'${c}'`).join(', ');
export const TEXT_CHECK = "SELECT 1 FROM DUAL WHERE FIND_IN_SET('ANSI_QUOTES', @@SESSION.sql_mode) = 0"
  + ` AND @@SESSION.character_set_client IN (${SAFE_LIST})`
  + ` AND @@SESSION.character_set_connection IN (${SAFE_LIST})`;
export const TEXT_CHECK_FAILED = 'the database server reads statement text differently from the gateway\'s check (its sql_mode has ANSI_QUOTES, or its character set is not utf8mb4, utf8, latin1, ascii or binary: see its global sql_mode, init_connect and character-set settings), so the session cannot be checked and was ended (AIRLOCK_TEXT_SETTING_CHANGED)';

const KILL = /^\s*kill\s+(?:(query|connection)\s+)?(\d{1,10})\s*;?\s*$/i;
const KILL_WORD = /(?<![\w$\u0080-\uffff])kill(?![\w$\u0080-\uffff])/i;
const USE_WORD = /(?<![\w$\u0080-\uffff])use(?![\w$\u0080-\uffff])/i;
/** In text the lexer cannot read: a word naming a text setting (sql_mode, character_set_client, NAMES, CHARSET, …). */
const TEXT_SETTING_WORD = /(?<![\w$\u0080-\uffff])(?:sql_mode|character_set_client|character_set_connection|collation_connection|names|charset|character)(?![\w$\u0080-\uffff])/i;
/**
 * Every word the walls below look for (KILL, USE, the text settings, PREPARE and EXECUTE, which carry text to look
 * into). A text without any of them has nothing to refuse, so it is not lexed a second time (the inspector lexed it).
 */
const WALL_WORD = /(?<![\w$\u0080-\uffff])(?:kill|use|prepare|execute|sql_mode|character_set_client|character_set_connection|collation_connection|names|charset|character)(?![\w$\u0080-\uffff])/i;
const KILL_REFUSAL = 'airlock: KILL goes through the gateway only as KILL [QUERY|CONNECTION] <id> with the connection id of one of your own sessions (AIRLOCK_FORBIDDEN)';
/** PREPARE … FROM 'text' and EXECUTE IMMEDIATE 'text' are looked into this deep (a text that prepares a text…). */
const DYNAMIC_DEPTH = 3;

const isWord = (t: Token | undefined, w: string) => t !== undefined && t.type === 'word' && t.value === w;

/** The text of a string literal token ('…', "…", N'…'), unquoted; backslash escapes dropped unless the session reads them plainly. */
/** Session settings that change how the server reads statement text. */
const TEXT_SETTING_NAMES = new Set(['sql_mode', 'character_set_client', 'character_set_connection', 'collation_connection']);

/** First words of statements whose SET names columns: the inspector reads them whole. */
const DML_FIRST = new Set(['SELECT', 'UPDATE', 'INSERT', 'REPLACE', 'DELETE', 'WITH', 'TABLE', 'VALUES', '(']);

/** The first assignment of a text setting in a statement's tokens (`sql_mode = …`, `SET NAMES …`), or null. */
function textSettingAt(t: Token[]): string | null {
  let afterSet = false;
  for (let k = 0; k < t.length; k++) {
    const x = t[k]!;
    if ((x.type === 'word' || x.type === 'qident' || x.type === 'sysvar') && TEXT_SETTING_NAMES.has(x.value.toLowerCase().split('.').pop()!)) {
      const op = t[k + 1];
      if (op !== undefined && op.type === 'op' && (op.value === '=' || op.value === ':=')) return `SET ${x.value.toLowerCase()}`;
    }
    if (isWord(x, 'SET')) afterSet = true;
    // SET NAMES …, SET CHARSET …, SET CHARACTER SET …, also as a later entry of a SET's comma list.
    const named = isWord(t[k + 1], 'NAMES') || isWord(t[k + 1], 'CHARSET') ? k + 2 : isWord(t[k + 1], 'CHARACTER') && isWord(t[k + 2], 'SET') ? k + 3 : 0;
    if ((isWord(x, 'SET') || (afterSet && x.type === 'punct' && x.value === ',')) && named > 0 && t[named]?.type !== 'op') {
      return `SET ${t[k + 1]!.value.toUpperCase()}`;
    }
  }
  return null;
}

function stringContent(t: Token, sql: string, noBackslashEscapes: boolean): string {
  let raw = sql.slice(t.start, t.end);
  if (/^n/i.test(raw)) raw = raw.slice(1);
  const q = raw[0]!;
  let inner = raw.slice(1, -1).split(q + q).join(q);
  if (!noBackslashEscapes) inner = inner.replace(/\\([\s\S])/g, '$1');
  return inner;
}

/**
 * Statement kinds that can change the session's variables: SET (also SET STATEMENT … FOR), and those that run code
 * the gateway does not read (a stored procedure, dynamic SQL, DO with a stored function).
 */
const SESSION_CHANGING_KINDS = new Set(['set', 'call', 'execute', 'do']);

/**
 * Whether a statement the server ran may have changed how it reads text: one of SESSION_CHANGING_KINDS, a call of a
 * function that is not a built-in known to only read (a stored function can SET), or a text the inspector could not
 * read at all (a session without guardrails forwards it).
 */
function maySetVariables(d: Decision): boolean {
  if (d.statements.length === 0) return true;
  return d.statements.some((s) => SESSION_CHANGING_KINDS.has(s.kind) || s.calls === true);
}

/** Returns the handler the relay calls for each command packet. */
export function makeCommandHandler(ctx: CommandContext): (p: Packet) => Promise<void> {
  const { relay } = ctx;
  // Mirrors of the server's prepared-statement state. Each changes only once the command that changes it on the
  // server was forwarded, never for one the gateway refused or a review withheld: a mirror ahead of the server would
  // show a reviewer values or types the server does not use.
  const statements = new Map<number, { text: string; decision: Decision; params: ParamState; longData: boolean; masked: boolean }>();
  let lastPrepared: number | null = null;
  /** MariaDB reads statement id 0xffffffff as the session's last prepared statement, in every COM_STMT_* command. */
  const statementId = (body: Buffer): number | null => {
    const raw = body.readUInt32LE(1);
    return raw === LAST_STATEMENT ? lastPrepared : raw;
  };
  let logged = 0;

  const refuse = (code: number, sqlstate: string, message: string) => relay.reply(errPayload(code, sqlstate, message.startsWith('airlock:') ? message : `airlock: ${message}`));

  /** `held`: the exact text and parameters, when the review rule holds the statement until a person decides. */
  async function statement(command: StatementRecord['command'], d: Decision, send: () => Promise<Outcome>, held?: { text: string; parameters: (string | null)[] | null }): Promise<void> {
    const no = ++logged;
    let started = performance.now();
    if (!d.allowed) {
      refuse(ER_NOT_ALLOWED, '42000', d.message ?? 'airlock: statement refused');
      ctx.onStatement({ text: d.redacted, fingerprint: d.fingerprint, decision: 'refused', rule: d.rule, rows: 0, duration_ms: 0, error: null, logged: no, command });
      return;
    }
    let review_id: string | undefined;
    if (held && ctx.hold) {
      const o = await ctx.hold.review(held.text, held.parameters, d, () => {});
      if (o.review_id !== null) review_id = o.review_id;
      if (!o.run) {
        const [code, sqlstate] = NOT_RUN[o.why];
        if (!relay.isEnded) refuse(code, sqlstate, `${o.message} (${o.airlock})`);
        ctx.onStatement({ text: d.redacted, fingerprint: d.fingerprint, decision: 'refused', rule: o.rule, rows: 0, duration_ms: 0, error: o.message, logged: no, command, review_id });
        return;
      }
      started = performance.now();
    }
    if (ctx.logBeforeForward && !d.reads_only) {
      try {
        await ctx.logBeforeForward({ logged: no, text: d.redacted, fingerprint: d.fingerprint, review_id });
      } catch {
        relay.kill('the audit log is unavailable, so the session was ended', 1105, 'HY000');
        return;
      }
    }
    const o = await send();
    // The inspector reads quotes the way the server did at login; a session whose server now reads them differently
    // (SET sql_mode … NO_BACKSLASH_ESCAPES slipped through) cannot be checked any more, whatever its guardrails: the
    // KILL/USE wall and the audit text rely on the same reading.
    if (o.status !== 0 && ((o.status & 0x0200) !== 0) !== ctx.noBackslashEscapes) {
      relay.kill('the session changed how the server reads backslashes in strings (sql_mode NO_BACKSLASH_ESCAPES), so its statements can no longer be checked; the session was ended (AIRLOCK_TEXT_SETTING_CHANGED)', 1105, 'HY000');
    }
    // Belt and braces behind the inspector's text_setting rule: after a statement that may have changed session
    // variables, ask the server again how it reads text before the next command; a session it now reads otherwise
    // is ended.
    if (!relay.isEnded && maySetVariables(d)) {
      const c = await relay.internal(TEXT_CHECK);
      if (c.error || c.rows !== 1) relay.kill(TEXT_CHECK_FAILED, 1105, 'HY000');
    }
    const error = o.cut ?? (o.error ? `${o.error.code} (${o.error.sqlstate}): ${o.error.message}` : null);
    ctx.onStatement({ text: d.redacted, fingerprint: d.fingerprint, decision: 'allowed', rule: o.cut ? 'max_rows' : d.rule, rows: o.rows || o.affected, duration_ms: Math.round((performance.now() - started) * 1000) / 1000, error, logged: no, command, review_id });
  }

  return async function onCommand(p: Packet): Promise<void> {
    const body = p.payload;
    const cmd = body[0];
    switch (cmd) {
      case COM.QUIT:
        return relay.end('the client ended the session');
      case COM.PING:
        await relay.forward(body, 'one_packet');
        return;
      case COM.QUERY: {
        const text = body.subarray(1).toString('utf8');
        const kill = KILL.exec(text);
        if (kill) return killCommand(Number(kill[2]), (kill[1] ?? '').toLowerCase() === 'query');
        const d = await ctx.inspector.inspectAsync(text);
        let masker: ResultMasker | null = null;
        if (d.allowed) {
          const w = wall(text);
          if (w) return void refuseStatement('query', d, w);
          const m = masked(text);
          if (m.refusal) return void refuseStatement('query', d, m.refusal);
          masker = m.masker;
        }
        const held = d.allowed && ctx.hold?.needs(d) ? { text, parameters: null } : undefined;
        // A USE moves the session to a schema the gateway does not follow (it may fail): approvals bind "not known".
        if (d.allowed && USE_WORD.test(text)) ctx.hold?.useDatabase(null);
        return statement('query', d, () => relay.forward(body, 'result', ctx.maxRows, masker), held);
      }
      case COM.INIT_DB: {
        const why = ctx.schemaRefusal(body.subarray(1).toString('utf8'));
        if (why) return refuse(ER_DB_DENIED, '42000', why);
        ctx.hold?.useDatabase(null);
        await relay.forward(body, 'one_packet');
        return;
      }
      case COM.FIELD_LIST:
        await relay.forward(body, 'field_list');
        return;
      case COM.STATISTICS:
        await relay.forward(body, 'one_packet');
        return;
      case COM.PROCESS_KILL:
        if (body.length < 5) return refuse(ER_NOT_SUPPORTED, '08S01', 'a KILL without a connection id');
        return killCommand(body.readUInt32LE(1), false);
      case COM.STMT_PREPARE: {
        const text = body.subarray(1).toString('utf8');
        const d = await ctx.inspector.inspectAsync(text);
        if (!d.allowed) return statement('prepare', d, () => relay.forward(body, 'prepare'));
        const w = wall(text);
        if (w) return void refuseStatement('prepare', d, w);
        const m = masked(text);
        if (m.refusal) return void refuseStatement('prepare', d, m.refusal);
        const o = await relay.forward(body, 'prepare');
        // A prepare the server refused leaves it no last prepared statement (MariaDB clears it).
        lastPrepared = o.prepared ? o.prepared.id : null;
        if (o.prepared) statements.set(o.prepared.id, { text, decision: d, params: { count: o.prepared.params, types: null }, longData: false, masked: m.masker !== null });
        return;
      }
      case COM.STMT_EXECUTE: {
        if (body.length < 10) return refuse(ER_UNKNOWN_STMT, 'HY000', 'a malformed COM_STMT_EXECUTE');
        const raw = body.readUInt32LE(1);
        const id = statementId(body);
        const s = id === null ? undefined : statements.get(id);
        if (!s) return refuse(ER_UNKNOWN_STMT, 'HY000', `unknown prepared statement handler (${raw}) given to EXECUTE`);
        if (body[5]! & 0x07) return refuse(ER_NOT_SUPPORTED, '42000', 'server-side cursors (COM_STMT_EXECUTE with a cursor flag) are not relayed by the gateway; fetch the whole result instead');
        const read = executeParameters(body, s.params);
        // Only now does the server take this execute's types; it drops long data once it has bound the values, which
        // an execute it refused before binding them may not have done (COM_STMT_RESET then clears them).
        const send = async () => {
          s.params.types = read.types;
          const o = await relay.forward(body, 'result', ctx.maxRows, s.masked ? ctx.masking!.masker(true) : null);
          if (!o.error) s.longData = false;
          return o;
        };
        if (!ctx.hold?.needs(s.decision)) return statement('execute', s.decision, send);
        // Values sent ahead with COM_STMT_SEND_LONG_DATA are not in this packet, so a review could not show them.
        if (s.longData) return refuseStatement('execute', s.decision, { code: ER_NOT_ALLOWED, rule: 'review_long_data', message: 'airlock: this statement is held for review, and a value sent with COM_STMT_SEND_LONG_DATA cannot be shown to the reviewer; send the values inline, or send COM_STMT_RESET first to drop them (AIRLOCK_FORBIDDEN)' });
        return statement('execute', s.decision, send, { text: s.text, parameters: read.parameters });
      }
      case COM.STMT_SEND_LONG_DATA: {
        // No reply either way; long data for a statement the gateway does not know is dropped here, so none can
        // reach one it does not track (the server may resolve an id the gateway cannot).
        const id = body.length >= 5 ? statementId(body) : null;
        const s = id === null ? undefined : statements.get(id);
        if (!s) return;
        s.longData = true;
        await relay.forward(body, 'none');
        return;
      }
      case COM.STMT_CLOSE: {
        const id = body.length >= 5 ? statementId(body) : null;
        if (id !== null) statements.delete(id);
        if (id !== null && id === lastPrepared) lastPrepared = null;
        await relay.forward(body, 'none');
        return;
      }
      case COM.STMT_RESET: {
        const id = body.length >= 5 ? statementId(body) : null;
        const o = await relay.forward(body, 'one_packet');
        // The server dropped the statement's long data (its parameter types stay).
        const s = id === null ? undefined : statements.get(id);
        if (s && !o.error) s.longData = false;
        return;
      }
      case COM.SET_OPTION: {
        // Exactly a command byte and a 2-byte option: the server reads a shorter body past its end (as "on"), so
        // only the exact form is forwarded, and for a guarded session only "off" (1).
        if (body.length !== 3 || body.readUInt16LE(1) > 1) return refuse(ER_NOT_SUPPORTED, '08S01', 'a malformed COM_SET_OPTION (it takes exactly one 2-byte option, 0 or 1) (AIRLOCK_PROTOCOL_ERROR)');
        if (body.readUInt16LE(1) === 0 && ctx.guarded) return refuse(ER_NOT_ALLOWED, '42000', 'multi-statements are off for your role (its guardrails check one statement at a time); send statements one by one');
        await relay.forward(body, 'one_packet');
        return;
      }
      case COM.RESET_CONNECTION: {
        statements.clear();
        lastPrepared = null;
        const o = await relay.internalCommand(body, 'one_packet');
        if (o.error) return void relay.reply(errPayload(o.error.code, o.error.sqlstate, o.error.message));
        for (const sql of ctx.setup) {
          const r = await relay.internal(sql);
          if (r.error) return relay.kill('the session could not be set up again after a reset');
        }
        const c = await relay.internal(TEXT_CHECK);
        if (c.error || c.rows !== 1) return relay.kill(TEXT_CHECK_FAILED, 1105, 'HY000');
        relay.reply(okPayload(o.status));
        return;
      }
      case COM.CHANGE_USER:
        refuse(1045, '28000', 'COM_CHANGE_USER is refused by the gateway: a session stays with the principal and grant it logged in with; open a new connection instead (error AIRLOCK_PROTOCOL_ERROR)');
        return relay.end('the client asked to change user (refused)');
      case COM.STMT_FETCH:
        return refuse(ER_NOT_SUPPORTED, '42000', 'server-side cursors (COM_STMT_FETCH) are not relayed by the gateway');
      default:
        refuse(ER_NOT_SUPPORTED, '08S01', `command 0x${(cmd ?? 0).toString(16).padStart(2, '0')} is not relayed by the gateway (replication, debugging and administration commands are refused); the session is ended`);
        return relay.end(`the client sent command 0x${(cmd ?? 0).toString(16)}, which the gateway does not relay`);
    }
  };

  /** The masking check of a statement text: a refusal, or the masker its results pass through (null: none needed). */
  function masked(text: string): { refusal: { code: number; rule: string; message: string } | null; masker: ResultMasker | null } {
    if (!ctx.masking) return { refusal: null, masker: null };
    const v = ctx.masking.check(text);
    if (!v.ok) return { refusal: { code: ER_NOT_ALLOWED, rule: 'masking', message: `airlock: statement refused by rule masking: ${v.message} (AIRLOCK_MASKING_REFUSED)` }, masker: null };
    return { refusal: null, masker: v.masked ? ctx.masking.masker(false) : null };
  }

  /** Refuses an allowed-by-the-guardrails statement that the gateway's walls stop, and audits it as refused. */
  function refuseStatement(command: StatementRecord['command'], d: Decision, w: { code: number; rule: string; message: string }): void {
    refuse(w.code, '42000', w.message);
    ctx.onStatement({ text: d.redacted, fingerprint: d.fingerprint, decision: 'refused', rule: w.rule, rows: 0, duration_ms: 0, error: null, logged: ++logged, command });
  }

  /**
   * The gateway's own walls, for every role: KILL reaches the server only as the gateway routes it (any other form,
   * KILL USER, a server's thread id, behind comments or in another statement, would reach connections that are not
   * this principal's), and USE only a schema the resource covers. Read from the tokens, wherever they stand (version
   * comments read as code), also inside PREPARE … FROM 'text' and EXECUTE IMMEDIATE 'text'; SQL text built at run time
   * (PREPARE … FROM @var) cannot be read and is refused. A text the lexer cannot read is refused when it holds the word.
   */
  function wall(text: string, depth = 0): { code: number; rule: string; message: string } | null {
    if (!WALL_WORD.test(text)) return null;
    const kill = { code: ER_NOT_ALLOWED, rule: 'kill', message: KILL_REFUSAL };
    const statements = ctx.inspector.lex(text);
    if (statements === null) {
      if (KILL_WORD.test(text)) return kill;
      if (TEXT_SETTING_WORD.test(text)) return { code: ER_NOT_ALLOWED, rule: 'text_setting', message: 'airlock: statement refused by rule text_setting: a text the gateway cannot read names a setting that changes how the server reads statements (sql_mode, NAMES, a character set); send the SET on its own' };
      if (USE_WORD.test(text)) return { code: ER_DB_DENIED, rule: 'schema', message: 'a USE in a text the gateway cannot read: its schema cannot be checked against the resource; send USE <schema> on its own (AIRLOCK_DATABASE_NOT_ALLOWED)' };
      return null;
    }
    for (const st of statements) {
      const t = st.tokens;
      for (let i = 0; i < t.length; i++) {
        if (isWord(t[i], 'KILL')) return kill;
        if (!isWord(t[i], 'USE')) continue;
        const next = t[i + 1];
        if (isWord(next, 'INDEX') || isWord(next, 'KEY')) continue; // an index hint
        const name = next === undefined ? null : next.type === 'word' ? text.slice(next.start, next.end) : next.type === 'qident' || next.type === 'dqstr' ? next.value : null;
        const why = name === null ? 'a USE whose schema name the gateway cannot read; send USE <schema> (AIRLOCK_DATABASE_NOT_ALLOWED)' : ctx.schemaRefusal(name);
        if (why) return { code: ER_DB_DENIED, rule: 'schema', message: why };
      }
      // Text settings inside what the inspector does not read as a SET of its own: dynamic SQL text, compound
      // statements and stored-program bodies (the top-level SET is the inspector's, rule text_setting).
      // DML's own SET (UPDATE t SET names = …) names columns, not settings.
      if (!DML_FIRST.has(t[0]?.type === 'word' ? t[0].value : '(') && (depth > 0 || !isWord(t[0], 'SET'))) {
        const setting = textSettingAt(t);
        if (setting !== null) return { code: ER_NOT_ALLOWED, rule: 'text_setting', message: `airlock: statement refused by rule text_setting: ${setting} inside dynamic SQL, a compound statement or a stored program would change how the server reads statements, which the gateway's check and audit rely on; send the SET on its own` };
      }
      // PREPARE <name> FROM … and EXECUTE IMMEDIATE …, wherever they stand: at the start, inside BEGIN NOT ATOMIC … END
      // or IF … END IF, or as the body of CREATE PROCEDURE/FUNCTION/TRIGGER/EVENT.
      for (let k = 0; k < t.length; k++) {
        const from = isWord(t[k], 'PREPARE') && t[k + 1] !== undefined && isWord(t[k + 2], 'FROM') ? k + 3 : isWord(t[k], 'EXECUTE') && isWord(t[k + 1], 'IMMEDIATE') ? k + 2 : 0;
        if (from === 0) continue;
        const rest = t.slice(from).filter((x, j) => !(j === 0 && x.type === 'word' && x.value.startsWith('_'))); // a _charset introducer
        const literal = rest.length === 1 && (rest[0]!.type === 'string' || rest[0]!.type === 'dqstr') ? rest[0]! : null;
        if (literal === null || depth >= DYNAMIC_DEPTH) {
          return { code: ER_NOT_ALLOWED, rule: 'dynamic_sql', message: 'airlock: PREPARE … FROM and EXECUTE IMMEDIATE go through the gateway only with the statement as one quoted text, which the gateway checks for KILL and USE; SQL text built at run time cannot be checked (AIRLOCK_FORBIDDEN)' };
        }
        const inner = wall(stringContent(literal, text, ctx.noBackslashEscapes), depth + 1);
        if (inner) return inner;
      }
    }
    return null;
  }

  async function killCommand(target: number, queryOnly: boolean): Promise<void> {
    const why = await ctx.killSession(target, queryOnly);
    if (why) refuse(1095, 'HY000', why);
    else relay.reply(okPayload(0x0002));
  }
}
