// Statement review in the PostgreSQL wire protocol: prepared statements' texts and Bind parameters for a hold at
// Execute, the notice a held statement sends, and each outcome as an ErrorResponse (../core/statement-hold.ts holds).
import type { Decision } from '../../inspect/index.js';
import { StatementHold, type NotRun } from '../core/statement-hold.js';
import { ProtocolError, errorResponse, noticeResponse, readCString } from './protocol.js';

/** SQLSTATE of each way a held statement does not run: a denial is a privilege refusal, a timeout or cancel a cancel. */
const SQLSTATE: Record<NotRun, string> = { denied: '42501', mismatch: '42501', used: '42501', timed_out: '57014', withdrawn: '57014', failed: 'XX000', capped: '53400' };

/** A statement to hold for review at Execute: its text and its Bind's parameters. */
export interface HeldText {
  sql: string;
  parameters: (string | null)[];
}

/** What the relay does with the held message: forward it, or run REFUSED_SQL and give the client `error`. */
export type PgHoldOutcome = { run: true; review_id: string } | { run: false; review_id: string | null; rule: string; message: string; error: Buffer };

export class PgStatementHold extends StatementHold {
  /**
   * A Bind of `statement`, as the session knows it (null: a name the gateway has no accepted Parse for, e.g. one SQL
   * PREPARE made): what an Execute of its portal holds, with the Bind's values; null when the rule does not hold it.
   * `at` as in bindParameters.
   */
  forBind(statement: string, prepared: { d: Decision; sql: string } | null, msg: Buffer, at: number): HeldText | null {
    if (prepared !== null && !this.needs(prepared.d)) return null;
    const sql = prepared?.sql ?? `/* airlock: the prepared statement "${statement}", which the gateway did not see parsed (made with SQL PREPARE, or after a SQL PREPARE, DEALLOCATE or DISCARD); its SQL text was inspected when it was sent */`;
    return { sql, parameters: bindParameters(msg, at) };
  }

  /** Holds the statement; the client gets a NoticeResponse once it is held, and an ErrorResponse if it does not run. */
  async hold(statement: string, parameters: (string | null)[] | null, d: Decision | null, notify: (msg: Buffer) => void): Promise<PgHoldOutcome> {
    const o = await this.review(statement, parameters, d, (text) => notify(noticeResponse(text)));
    if (o.run) return o;
    return { run: false, review_id: o.review_id, rule: o.rule, message: o.message, error: errorResponse({ severity: 'ERROR', code: SQLSTATE[o.why], message: o.message, airlock: o.airlock }) };
  }
}

/**
 * The parameters of a Bind as a review shows them: text-format values as strings, binary ones as \x hex, NULL as
 * null. `at` is the offset after the portal and statement names.
 */
export function bindParameters(msg: Buffer, at: number): (string | null)[] {
  const end = msg.length;
  const need = (n: number) => {
    if (at + n > end) throw new ProtocolError('Bind message is too short');
  };
  need(2);
  const nFormats = msg.readInt16BE(at);
  at += 2;
  need(2 * nFormats);
  const formats: number[] = [];
  for (let i = 0; i < nFormats; i++) formats.push(msg.readInt16BE(at + 2 * i));
  at += 2 * nFormats;
  need(2);
  const n = msg.readInt16BE(at);
  at += 2;
  const out: (string | null)[] = [];
  for (let i = 0; i < n; i++) {
    need(4);
    const len = msg.readInt32BE(at);
    at += 4;
    if (len < 0) {
      out.push(null);
      continue;
    }
    need(len);
    const binary = (nFormats === 1 ? formats[0] : formats[i]) === 1;
    out.push(binary ? `\\x${msg.toString('hex', at, at + len)}` : msg.toString('utf8', at, at + len));
    at += len;
  }
  return out;
}

/** The portal and statement a Bind names, and the offset after them. */
export function bindNames(msg: Buffer): { portal: string; statement: string; at: number } {
  const [portal, at] = readCString(msg, 5, msg.length);
  const [statement, next] = readCString(msg, at, msg.length);
  return { portal, statement, at: next };
}
