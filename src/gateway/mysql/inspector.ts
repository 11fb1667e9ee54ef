// The statement inspector of a MySQL session: the MySQL-dialect guardrails (src/inspect/mysql) with the role's
// settings, reading version comments and quotes the way the session's server does.
import { makeMysqlInspector } from '../../inspect/index.js';
import { lexMysqlSafely } from '../../inspect/mysql/index.js';
import type { SessionPlan } from '../types.js';
import type { MysqlInspector } from './commands.js';
import type { UpstreamFacts } from './upstream.js';

export function mysqlInspectorFor(plan: SessionPlan, upstream: UpstreamFacts): MysqlInspector {
  const inspector = makeMysqlInspector({ ...plan.guardrails, read_only: plan.read_only || plan.guardrails.read_only }, { server: upstream.server, noBackslashEscapes: upstream.noBackslashEscapes });
  return {
    inspectAsync: (sql) => inspector.inspectAsync(sql),
    lex(sql) {
      try {
        // Every version comment read as code: its tokens are all the tokens any server's reading can have.
        return lexMysqlSafely(sql, upstream.noBackslashEscapes);
      } catch {
        return null;
      }
    },
  };
}
