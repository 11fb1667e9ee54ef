// The value a statement approval is bound to: the exact text, its parameters, the grant, the database and the policy version.
import { createHash } from 'node:crypto';
import { canonicalJson } from '../domain/canonical-json.js';

/**
 * SHA-256 (hex) of canonical JSON of what will run. The text is taken byte for byte (not normalized): the statement
 * that runs must be the one the reviewer read, so even a changed space or comment needs a new review. The database
 * (PostgreSQL) or schema (MySQL) is part of it: one resource may reach several databases with the same text, and an
 * approval for one must not run in another. Absent or null: not known (the binding says so).
 */
export function statementBinding(b: { statement: string; parameters: (string | null)[] | null; grant_id: string; policy_hash: string; database?: string | null }): string {
  return createHash('sha256').update(canonicalJson({ statement: b.statement, parameters: b.parameters, grant_id: b.grant_id, policy_hash: b.policy_hash, database: b.database ?? null })).digest('hex');
}
