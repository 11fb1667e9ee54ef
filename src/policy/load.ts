// Loads a policy file: YAML → zod → cross-checks, with every problem named by file, line and field.
import { readFileSync } from 'node:fs';
import { CST, LineCounter, Parser, parseDocument, isMap, isNode, isScalar, isSeq, type Document } from 'yaml';
import type { z } from 'zod';
import { policySchema, type PolicyDoc } from './schema.js';
import { compilePolicy, type Policy } from './compile.js';
import { mysqlRoleProblems } from './mysql-privileges.js';
import { reviewProblems } from './statement-review-rule.js';

export interface PolicyProblem {
  file: string;
  line: number;
  column: number;
  field: string;
  message: string;
}

export class PolicyError extends Error {
  readonly problems: PolicyProblem[];
  constructor(problems: PolicyProblem[]) {
    super(problems.map(formatProblem).join('\n'));
    this.name = 'PolicyError';
    this.problems = problems;
  }
}

export function formatProblem(p: PolicyProblem): string {
  return `${p.file}:${p.line}:${p.column}: ${p.field ? `${p.field}: ` : ''}${p.message}`;
}

function fieldName(path: readonly PropertyKey[]): string {
  return path.reduce<string>((acc, k) => (typeof k === 'number' ? `${acc}[${k}]` : acc ? `${acc}.${String(k)}` : String(k)), '');
}

/** The closest YAML node for a path: the deepest ancestor that exists, so "missing field" points at its parent. */
function locate(doc: Document, lc: LineCounter, path: readonly PropertyKey[]): { line: number; column: number } {
  for (let n = path.length; n >= 0; n--) {
    const node = n === 0 ? doc.contents : doc.getIn(path.slice(0, n) as (string | number)[], true);
    if (isNode(node) && node.range) {
      const pos = lc.linePos(node.range[0]);
      return { line: pos.line, column: pos.col };
    }
  }
  return { line: 1, column: 1 };
}

/** Where a key is written (not its value, which may start lines later), for "unknown field" problems. */
function locateKey(doc: Document, lc: LineCounter, parent: readonly PropertyKey[], key: string): { line: number; column: number } {
  const node = parent.length === 0 ? doc.contents : doc.getIn(parent as (string | number)[], true);
  if (isMap(node)) {
    for (const pair of node.items) {
      if (isScalar(pair.key) && pair.key.value === key && pair.key.range) {
        const pos = lc.linePos(pair.key.range[0]);
        return { line: pos.line, column: pos.col };
      }
    }
  }
  return locate(doc, lc, parent);
}

/**
 * The yaml library reports an unclosed quote where the text runs out (often the end of the file); the person needs
 * the line where the quote was opened, so find the quoted scalar that runs up to the error.
 */
function quoteStart(text: string, pos: number): number | undefined {
  let found: number | undefined;
  const consider = (t: CST.Token | undefined) => {
    if (t && (t.type === 'double-quoted-scalar' || t.type === 'single-quoted-scalar') && t.offset <= pos && pos <= t.offset + t.source.length) found = t.offset;
  };
  for (const tok of new Parser().parse(text)) {
    if (tok.type !== 'document') continue;
    consider(tok.value);
    CST.visit(tok, (item) => {
      consider(item.key ?? undefined);
      consider(item.value);
    });
  }
  return found;
}

/** The path of the map key written at `offset` (a duplicate key), so the problem names its field. */
function keyPathAt(node: unknown, offset: number, path: (string | number)[] = []): (string | number)[] | undefined {
  if (isMap(node)) {
    for (const pair of node.items) {
      const key = isScalar(pair.key) ? String(pair.key.value) : '?';
      if (isNode(pair.key) && pair.key.range?.[0] === offset) return [...path, key];
      const inner = keyPathAt(pair.value, offset, [...path, key]);
      if (inner) return inner;
    }
  } else if (isSeq(node)) {
    for (let i = 0; i < node.items.length; i++) {
      const inner = keyPathAt(node.items[i], offset, [...path, i]);
      if (inner) return inner;
    }
  }
  return undefined;
}

function valueAt(raw: unknown, path: readonly PropertyKey[]): unknown {
  let v = raw;
  for (const k of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[k];
  }
  return v;
}

function schemaProblems(issue: z.core.$ZodIssue, raw: unknown, doc: Document, lc: LineCounter, file: string): PolicyProblem[] {
  if (issue.code === 'unrecognized_keys') {
    // One problem per unknown key, placed on the key itself and named by its full path.
    return issue.keys.map((key) => ({ file, ...locateKey(doc, lc, issue.path, key), field: fieldName([...issue.path, key]), message: `unknown field "${key}"` }));
  }
  const absent = issue.path.length > 0 && valueAt(raw, issue.path) === undefined && (issue.code === 'invalid_type' || issue.code === 'invalid_value' || issue.code === 'invalid_union');
  const message = absent ? `required field "${String(issue.path[issue.path.length - 1])}" is missing` : issue.message;
  return [{ file, ...locate(doc, lc, issue.path), field: fieldName(issue.path), message }];
}

/** Parses and validates policy text; throws PolicyError listing every problem found. */
export function parsePolicy(text: string, file = 'airlock.yaml'): Policy {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new PolicyError(
      doc.errors.map((e) => {
        const at = e.code === 'MISSING_CHAR' && /quote/.test(e.message) ? (quoteStart(text, e.pos[0]) ?? e.pos[0]) : e.pos[0];
        const pos = lc.linePos(at);
        const field = e.code === 'DUPLICATE_KEY' ? fieldName(keyPathAt(doc.contents, e.pos[0]) ?? []) : '';
        return { file, line: pos.line, column: pos.col, field, message: `YAML: ${e.message.split('\n')[0]}` };
      }),
    );
  }
  const raw: unknown = doc.toJS({ maxAliasCount: 100 });
  const parsed = policySchema.safeParse(raw ?? {});
  if (!parsed.success) {
    throw new PolicyError(parsed.error.issues.flatMap((i: z.core.$ZodIssue) => schemaProblems(i, raw, doc, lc, file)));
  }
  const problems = crossCheck(parsed.data).map((p) => ({ file, ...locate(doc, lc, p.path), field: fieldName(p.path), message: p.message }));
  if (problems.length > 0) throw new PolicyError(problems);
  return compilePolicy(parsed.data, file);
}

export function loadPolicyFile(file: string): Policy {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new PolicyError([{ file, line: 0, column: 0, field: '', message: `cannot read the policy file: ${(e as NodeJS.ErrnoException).code ?? String(e)}` }]);
  }
  return parsePolicy(text, file);
}

interface RawProblem {
  path: (string | number)[];
  message: string;
}

/** Rules that span entries: unique names, references to things that exist. */
function crossCheck(doc: PolicyDoc): RawProblem[] {
  const out: RawProblem[] = [];
  const dupes = (list: { name: string }[], key: string) => {
    const seen = new Map<string, number>();
    list.forEach((x, i) => {
      if (seen.has(x.name)) out.push({ path: [key, i, 'name'], message: `"${x.name}" is defined twice (first at ${key}[${seen.get(x.name)}])` });
      else seen.set(x.name, i);
    });
  };
  dupes(doc.principals, 'principals');
  dupes(doc.resources, 'resources');
  dupes(doc.roles, 'roles');
  const resources = new Set(doc.resources.map((r) => r.name));
  const principals = new Set(doc.principals.map((p) => p.name));
  doc.roles.forEach((role, i) => {
    role.resources.names.forEach((n, j) => {
      if (!resources.has(n)) out.push({ path: ['roles', i, 'resources', 'names', j], message: `unknown resource "${n}"; define it under resources:` });
    });
    role.approval.approver_principals.forEach((n, j) => {
      if (!principals.has(n)) out.push({ path: ['roles', i, 'approval', 'approver_principals', j], message: `unknown principal "${n}"` });
    });
    role.requestable_by.principals.forEach((n, j) => {
      if (!principals.has(n)) out.push({ path: ['roles', i, 'requestable_by', 'principals', j], message: `unknown principal "${n}"` });
    });
    role.approval.auto_approve.forEach((rule, j) => {
      if (rule.max_duration !== undefined && rule.max_duration > role.max_duration) {
        out.push({ path: ['roles', i, 'approval', 'auto_approve', j, 'max_duration'], message: 'the auto-approval ceiling is longer than the role\'s max_duration' });
      }
    });
    if (role.approval.approvals > 1 && role.approval.approver_principals.length > 0 && role.approval.approver_groups.length === 0 && role.approval.approver_principals.length < role.approval.approvals) {
      out.push({ path: ['roles', i, 'approval', 'approvals'], message: `needs ${role.approval.approvals} approvals but names only ${role.approval.approver_principals.length} approver(s)` });
    }
  });
  out.push(...mysqlRoleProblems(doc));
  out.push(...reviewProblems(doc));
  return out;
}
