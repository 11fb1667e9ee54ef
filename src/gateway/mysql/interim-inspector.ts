// Until the MySQL-dialect inspector (src/inspect/mysql) is plugged in: fails closed for any role with guardrails
// (every statement refused, saying why), lets unguarded roles' statements through, and redacts literals for the audit
// log with MySQL's quoting rules (backslash escapes, doubled quotes), so no literal reaches the log either way.
import type { Decision } from '../../inspect/index.js';
import type { SessionPlan } from '../types.js';
import type { MysqlInspector } from './commands.js';

/** Replaces string and numeric literals with ?; keeps identifiers (also `quoted`), keywords and operators. */
export function maskMysqlLiterals(sql: string): string {
  let out = '';
  let i = 0;
  while (i < sql.length) {
    const c = sql[i]!;
    if (c === "'" || c === '"') {
      let j = i + 1;
      while (j < sql.length) {
        if (sql[j] === '\\') j += 2;
        else if (sql[j] === c && sql[j + 1] === c) j += 2;
        else if (sql[j] === c) break;
        else j++;
      }
      out += '?';
      i = j + 1;
    } else if (c === '`') {
      const j = sql.indexOf('`', i + 1);
      const end = j < 0 ? sql.length : j + 1;
      out += sql.slice(i, end);
      i = end;
    } else if (/[0-9]/.test(c) && !/[A-Za-z0-9_$]/.test(sql[i - 1] ?? ' ')) {
      let j = i;
      while (j < sql.length && /[0-9A-Za-z._]/.test(sql[j]!)) j++;
      out += '?';
      i = j;
    } else {
      out += c;
      i++;
    }
  }
  return out.length > 4096 ? `${out.slice(0, 4096)}…` : out;
}

export function interimMysqlInspector(plan: SessionPlan): MysqlInspector {
  const g = plan.guardrails;
  const guarded = plan.read_only || g.read_only || g.deny_kinds.length > 0 || g.require_where;
  return {
    async inspectAsync(sql: string): Promise<Decision> {
      const redacted = g.keep_literals ? sql.slice(0, 4096) : maskMysqlLiterals(sql);
      if (guarded) {
        return { allowed: false, rule: 'parse_error', message: 'airlock: statement refused by rule parse_error: this build has no MySQL statement inspector, so a role with guardrails cannot run statements through the MySQL gateway', statements: [], fingerprint: null, redacted, reads_only: false };
      }
      return { allowed: true, rule: null, message: null, statements: [], fingerprint: null, redacted, reads_only: false };
    },
  };
}
