// What the gateway does with each client command: statements (COM_QUERY, prepared statements) are inspected and
// audited, schema changes checked against the resource, KILL routed to the right session, and everything the
// gateway does not relay refused with an ERR the person reads.
import type { Decision } from '../../inspect/index.js';
import { COM, errPayload, okPayload, type Packet } from './packets.js';
import type { Outcome, Relay } from './relay.js';

export interface MysqlInspector {
  inspectAsync(sql: string): Promise<Decision>;
}

export interface StatementRecord {
  text: string;
  fingerprint: string | null;
  decision: 'allowed' | 'refused';
  rule: string | null;
  rows: number;
  duration_ms: number;
  error: string | null;
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
  logBeforeForward: ((run: { logged: number; text: string; fingerprint: string | null }) => Promise<void>) | null;
}

const ER_NOT_ALLOWED = 1142;
const ER_DB_DENIED = 1044;
const ER_UNKNOWN_STMT = 1243;
const ER_NOT_SUPPORTED = 1235;

const KILL = /^\s*kill\s+(?:(query|connection)\s+)?(\d{1,10})\s*;?\s*$/i;
// Comments before it are skipped, but not version comments (`/*!…*/`, `/*M!…*/`), which the server executes.
const KILL_ANY = /^(?:\s|\/\*(?![!M])[\s\S]*?\*\/|#[^\n]*\n|--\s[^\n]*\n)*(?:\/\*M?!\d*\s*)?kill\b/i;
const USE = /^\s*use\s+(?:`((?:[^`]|``)+)`|([A-Za-z0-9_$]+))\s*;?\s*$/i;

/** Returns the handler the relay calls for each command packet. */
export function makeCommandHandler(ctx: CommandContext): (p: Packet) => Promise<void> {
  const { relay } = ctx;
  const statements = new Map<number, { text: string; decision: Decision }>();
  let lastPrepared: number | null = null;
  let logged = 0;

  const refuse = (code: number, sqlstate: string, message: string) => relay.reply(errPayload(code, sqlstate, message.startsWith('airlock:') ? message : `airlock: ${message}`));

  async function statement(command: StatementRecord['command'], d: Decision, send: () => Promise<Outcome>): Promise<void> {
    const no = ++logged;
    const started = performance.now();
    if (!d.allowed) {
      refuse(ER_NOT_ALLOWED, '42000', d.message ?? 'airlock: statement refused');
      ctx.onStatement({ text: d.redacted, fingerprint: d.fingerprint, decision: 'refused', rule: d.rule, rows: 0, duration_ms: 0, error: null, logged: no, command });
      return;
    }
    if (ctx.logBeforeForward && !d.reads_only) {
      try {
        await ctx.logBeforeForward({ logged: no, text: d.redacted, fingerprint: d.fingerprint });
      } catch {
        relay.kill('the audit log is unavailable, so the session was ended', 1105, 'HY000');
        return;
      }
    }
    const o = await send();
    // The inspector reads quotes the way the server did at login; a guarded session whose server now reads them
    // differently (SET sql_mode … NO_BACKSLASH_ESCAPES slipped through) cannot be checked any more.
    if (ctx.guarded && o.status !== 0 && ((o.status & 0x0200) !== 0) !== ctx.noBackslashEscapes) {
      relay.kill('the session changed how the server reads backslashes in strings (sql_mode NO_BACKSLASH_ESCAPES), so its statements can no longer be checked; the session was ended (AIRLOCK_TEXT_SETTING_CHANGED)', 1105, 'HY000');
    }
    const error = o.cut ?? (o.error ? `${o.error.code} (${o.error.sqlstate}): ${o.error.message}` : null);
    ctx.onStatement({ text: d.redacted, fingerprint: d.fingerprint, decision: 'allowed', rule: o.cut ? 'max_rows' : d.rule, rows: o.rows || o.affected, duration_ms: Math.round((performance.now() - started) * 1000) / 1000, error, logged: no, command });
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
        const use = USE.exec(text);
        if (use) {
          const why = ctx.schemaRefusal(use[1] !== undefined ? use[1].replace(/``/g, '`') : use[2]!);
          if (why) return refuse(ER_DB_DENIED, '42000', why);
        }
        const d = await ctx.inspector.inspectAsync(text);
        // KILL reaches the server only as the gateway routes it (above): any other form (KILL USER, KILL with a
        // server's thread id, behind comments) would reach connections that are not this principal's.
        if (d.allowed && (KILL_ANY.test(text) || d.statements.some((s) => s.kind === 'kill'))) {
          return refuse(ER_NOT_ALLOWED, '42000', 'airlock: KILL goes through the gateway only as KILL [QUERY|CONNECTION] <id> with the connection id of one of your own sessions (AIRLOCK_FORBIDDEN)');
        }
        return statement('query', d, () => relay.forward(body, 'result', ctx.maxRows));
      }
      case COM.INIT_DB: {
        const why = ctx.schemaRefusal(body.subarray(1).toString('utf8'));
        if (why) return refuse(ER_DB_DENIED, '42000', why);
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
        const o = await relay.forward(body, 'prepare');
        if (o.prepared) {
          statements.set(o.prepared.id, { text, decision: d });
          lastPrepared = o.prepared.id;
        }
        return;
      }
      case COM.STMT_EXECUTE: {
        if (body.length < 10) return refuse(ER_UNKNOWN_STMT, 'HY000', 'a malformed COM_STMT_EXECUTE');
        const raw = body.readUInt32LE(1);
        const id = raw === 0xffffffff && lastPrepared !== null ? lastPrepared : raw;
        const s = statements.get(id);
        if (!s) return refuse(ER_UNKNOWN_STMT, 'HY000', `unknown prepared statement handler (${raw}) given to EXECUTE`);
        if (body[5]! & 0x07) return refuse(ER_NOT_SUPPORTED, '42000', 'server-side cursors (COM_STMT_EXECUTE with a cursor flag) are not relayed by the gateway; fetch the whole result instead');
        return statement('execute', s.decision, () => relay.forward(body, 'result', ctx.maxRows));
      }
      case COM.STMT_SEND_LONG_DATA:
        await relay.forward(body, 'none');
        return;
      case COM.STMT_CLOSE: {
        if (body.length >= 5) statements.delete(body.readUInt32LE(1));
        await relay.forward(body, 'none');
        return;
      }
      case COM.STMT_RESET:
        await relay.forward(body, 'one_packet');
        return;
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

  async function killCommand(target: number, queryOnly: boolean): Promise<void> {
    const why = await ctx.killSession(target, queryOnly);
    if (why) refuse(1095, 'HY000', why);
    else relay.reply(okPayload(0x0002));
  }
}
