// Which rule of a role masks a column: `table.column`, `schema.table.column`, patterns with `*`, or a label (the
// column's comment, or its first word); the first rule that matches wins.
import type { ResolvedMask, SessionMasking } from '../../domain/masking.js';

export interface ColumnFacts {
  schema: string;
  table: string;
  column: string;
  comment: string | null;
}

export interface CompiledRule {
  matches(c: ColumnFacts): boolean;
  resolved: ResolvedMask;
}

/** A name or a pattern: `*` stands for any run of characters; names compare case-sensitively. */
function namePattern(part: string): (s: string) => boolean {
  if (!part.includes('*')) return (s) => s === part;
  const re = new RegExp(`^${part.split('*').map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`, 's');
  return (s) => re.test(s);
}

function columnRule(spec: string): ((c: ColumnFacts) => boolean) | null {
  const parts = spec.split('.');
  if (parts.length === 2) {
    const [t, col] = [namePattern(parts[0]!), namePattern(parts[1]!)];
    return (c) => col(c.column) && t(c.table);
  }
  if (parts.length === 3) {
    const [s, t, col] = [namePattern(parts[0]!), namePattern(parts[1]!), namePattern(parts[2]!)];
    return (c) => col(c.column) && t(c.table) && s(c.schema);
  }
  return null;
}

function labelRule(label: string): (c: ColumnFacts) => boolean {
  const m = namePattern(label);
  return (c) => {
    if (c.comment === null) return false;
    const text = c.comment.trim();
    return m(text) || m(text.split(/\s+/, 1)[0] ?? '');
  };
}

export function compileRules(masking: SessionMasking): CompiledRule[] {
  const out: CompiledRule[] = [];
  for (const r of masking.rules) {
    const matches = typeof r.column === 'string' ? columnRule(r.column) : typeof r.label === 'string' ? labelRule(r.label) : null;
    if (matches !== null) out.push({ matches, resolved: r.resolved });
  }
  return out;
}

export function firstMatch(rules: readonly CompiledRule[], c: ColumnFacts): ResolvedMask | null {
  for (const r of rules) if (r.matches(c)) return r.resolved;
  return null;
}
