// `airlock policy check|explain`: check a file locally; explain through the server or against a local file.
import type { Command } from 'commander';
import { run } from './command.js';
import { EXIT, table, UsageError } from './output.js';
import { qs } from './client.js';
// The policy parser loads only for the offline forms (check, explain --config); see eslint.config.js.
import type { Explanation } from '../policy/explain.js';

function explainText(e: Explanation): string {
  // Each group with where it comes from: (file), (idp) or (file+idp); an older server sends no group_sources.
  const sourced = e.principal.groups.map((g) => (e.principal.group_sources?.[g] ? `${g} (${e.principal.group_sources[g].join('+')})` : g));
  const head = `${e.principal.name} (${e.principal.kind}), groups: ${sourced.join(', ') || 'none'}${e.principal.admin ? ', admin' : ''}${e.principal.auditor ? ', auditor' : ''}\n`;
  const rows = e.entries.map((x) => ({
    resource: x.resource,
    role: x.role,
    may: x.allowed ? 'yes' : 'no',
    max: x.max_duration,
    approval: x.allowed ? `${x.approval.approvals} of ${x.approval.approvers.join(', ') || '(nobody)'}${x.approval.auto_approve.some((a) => a.applies_to_principal) ? ' or auto' : ''}` : '-',
    why: x.allowed ? (x.justification.hint ?? (x.justification.required ? 'reason required' : '')) : x.refusals.map((r) => `${r.message} [${r.rule}]`).join('; '),
    review: x.review ? `${x.review.statements} statements: ${x.review.approvals} of ${x.review.reviewers.join(', ') || '(nobody)'} within ${x.review.timeout}` : '-',
  }));
  const held = e.entries.some((x) => x.review);
  return head + table(rows, ['resource', 'role', 'may', 'max', 'approval', ...(held ? ['review'] : []), 'why']) + maskingText(e);
}

/** Each masking role once, after the table: its resources, the predicates rule, and one line per masked column. */
function maskingText(e: Explanation): string {
  const byRole = new Map<string, { resources: string[]; masking: NonNullable<Explanation['entries'][number]['masking']> }>();
  for (const x of e.entries) {
    if (!x.masking) continue;
    const seen = byRole.get(x.role);
    if (seen) seen.resources.push(x.resource);
    else byRole.set(x.role, { resources: [x.resource], masking: x.masking });
  }
  let out = '';
  for (const [role, { resources, masking }] of byRole) {
    const predicates = masking.predicates === 'refuse' ? 'masked columns refused in WHERE, JOIN ON, ORDER BY…' : 'masked columns allowed in WHERE, JOIN ON, ORDER BY…';
    out += `\nmasking of role ${role} (${resources.join(', ')}); ${predicates}:\n`;
    const rows = masking.columns.map((c) => ({ column: c.column ?? `label ${c.label ?? ''}`, method: c.method === 'partial' ? `partial, keep ${c.keep ?? 4}` : c.method, example: c.example }));
    out += table(rows, ['column', 'method', 'example']).trimEnd().replace(/^/gm, '  ') + '\n';
  }
  return out;
}

export function registerPolicyCommands(program: Command): void {
  const policy = program.command('policy').description('policy as code');
  policy
    .command('check')
    .description('validate a policy file; lists every problem with file, line and field')
    .argument('<file>', 'the YAML policy')
    .option('--json', 'print only JSON')
    .action(
      run(async (ctx, file: string) => {
        const { loadPolicyFile, PolicyError, formatProblem } = await import('../policy/load.js');
        try {
          const p = loadPolicyFile(file);
          // The file's own principals: the built-in bootstrap admin that compilePolicy adds is not in the file.
          const principals = p.doc.principals.length;
          ctx.out(`${file}: ok (${principals} principals, ${p.resources.length} resources, ${p.roles.length} roles; hash ${p.hash.slice(0, 12)})`, { ok: true, file, hash: p.hash, principals, resources: p.resources.length, roles: p.roles.length });
          return EXIT.ok;
        } catch (e) {
          if (!(e instanceof PolicyError)) throw e;
          ctx.out(`${e.problems.map(formatProblem).join('\n')}\n${e.problems.length} problem(s) in ${file}`, { ok: false, file, problems: e.problems });
          return EXIT.error;
        }
      }),
    );
  policy
    .command('explain')
    .description('which roles a principal may request on a resource, with limits, approvers, and the rule behind each refusal')
    .option('--principal <name>', 'who (default: you)')
    .option('--resource <name>', 'on what (default: every resource)')
    .option('--config <file>', 'explain against this local policy file instead of the server')
    .option('--json', 'print only JSON')
    .action(
      run(async (ctx, o: { principal?: string; resource?: string; config?: string }) => {
        let e: Explanation;
        if (o.config) {
          if (!o.principal) throw new UsageError('With --config, name the --principal.');
          const [{ loadPolicyFile }, { explain }] = await Promise.all([import('../policy/load.js'), import('../policy/explain.js')]);
          e = explain(loadPolicyFile(o.config), o.principal, o.resource);
        } else {
          e = await ctx.client().get<Explanation>(`/api/v1/policy/explain${qs({ principal: o.principal, resource: o.resource })}`);
        }
        ctx.out(explainText(e), e);
      }),
    );
}
