// `airlock reviews`, `airlock reviews show`, and `airlock approve|deny rev_…`: statements held until a person approves.
import { Option, type Command } from 'commander';
import { run, type Ctx } from './command.js';
import { qs } from './client.js';
import { table, when } from './output.js';

const STATUSES = ['pending', 'approved', 'denied', 'timed_out', 'withdrawn', 'executed', 'all'];

/** The StatementReview JSON of the API (src/access/statement-reviews.ts), as far as the CLI reads it. */
interface ReviewOut {
  id: string;
  status: string;
  principal: string;
  principal_kind?: string;
  sponsor: string | null;
  resource: string;
  role: string;
  grant_id: string;
  session_id: string | null;
  protocol: string;
  database: string | null;
  statement: string;
  parameters: (string | null)[] | null;
  summary: { kinds: string[]; tables: string[]; has_where: boolean | null; writes: boolean };
  approvals_needed: number;
  approvals: { reviewer: string; at: string; comment: string | null }[];
  approver_groups: string[];
  approver_principals?: string[];
  created_at: string;
  expires_at: string;
  decided_at: string | null;
  decided_by: string | null;
  comment: string | null;
  end_reason?: string | null;
  executed_at: string | null;
}

/** "helper (agent, sponsor alice)" or "alice". */
function asker(r: ReviewOut): string {
  if (r.principal_kind !== 'agent') return r.principal;
  return `${r.principal} (agent${r.sponsor ? `, sponsor ${r.sponsor}` : ', no sponsor'})`;
}

/** One line for a table: the statement's first line, shortened. */
function shortText(s: string, max = 60): string {
  const one = s.replace(/\s+/g, ' ').trim();
  return one.length > max ? `${one.slice(0, max - 1)}…` : one;
}

function whereText(w: boolean | null): string {
  return w === null ? 'no UPDATE or DELETE' : w ? 'yes' : 'NO (touches every row)';
}

/** What a reviewer reads before deciding: the exact text first, then what it touches, who asks, and when it ends. */
export function reviewText(r: ReviewOut): string {
  const lines = [
    `${r.id}  ${r.status}`,
    '',
    `Statement (${r.protocol}${r.database ? `, database ${r.database}` : ''}), exactly as it will run:`,
    ...r.statement.split('\n').map((l) => `  ${l}`),
  ];
  if (r.parameters && r.parameters.length > 0) {
    lines.push('Parameters:');
    r.parameters.forEach((p, i) => lines.push(`  $${i + 1} = ${p === null ? 'NULL' : JSON.stringify(p)}`));
  }
  lines.push(
    '',
    `Kinds:     ${r.summary.kinds.join(', ') || '-'}`,
    `Tables:    ${r.summary.tables.join(', ') || '-'}`,
    `WHERE:     ${whereText(r.summary.has_where)}`,
    `Writes:    ${r.summary.writes ? 'yes' : 'no'}`,
    '',
    `Asked by:  ${asker(r)}`,
    `Resource:  ${r.resource}   role ${r.role}   grant ${r.grant_id}   session ${r.session_id ?? '-'}`,
    `Created:   ${when(r.created_at)}`,
    `Expires:   ${when(r.expires_at)}`,
    `Approvals: ${r.approvals.length} of ${r.approvals_needed}${r.approvals.length ? ` (${r.approvals.map((a) => `${a.reviewer}${a.comment ? `: "${a.comment}"` : ''}`).join('; ')})` : ''}`,
    `Reviewers: ${[...r.approver_groups.map((g) => `group ${g}`), ...(r.approver_principals ?? [])].join(', ') || '-'}`,
  );
  if (r.decided_at) lines.push(`Decided:   ${when(r.decided_at)}${r.decided_by ? ` by ${r.decided_by}` : ''}${r.comment ? `: "${r.comment}"` : ''}`);
  if (r.end_reason) lines.push(`Ended:     ${r.end_reason}`);
  if (r.executed_at) lines.push(`Ran:       ${when(r.executed_at)}`);
  if (r.status === 'pending') lines.push('', `Decide: airlock approve ${r.id} [--comment …]  or  airlock deny ${r.id} --comment …`);
  return `${lines.join('\n')}\n`;
}

/** `airlock approve|deny rev_…` (request-commands.ts hands rev_ ids here). */
export async function decideStatementReview(ctx: Ctx, verb: 'approve' | 'deny', id: string, comment: string | undefined): Promise<void> {
  const r = await ctx.client().post<ReviewOut>(`/api/v1/statement-reviews/${encodeURIComponent(id)}/${verb}`, { comment });
  const msg =
    verb === 'deny'
      ? `Denied statement ${id}; ${r.principal} is told why.`
      : r.status === 'approved'
        ? `Approved statement ${id}: it runs now in ${r.principal}'s session (once).`
        : `Recorded your approval of statement ${id}; ${r.approvals_needed - r.approvals.length} more approval(s) needed.`;
  ctx.out(msg, r);
}

export function registerReviewCommands(program: Command): void {
  const reviews = program
    .command('reviews')
    .description('statements held for review: yours, those you may decide, or all (admins and auditors)')
    .addOption(new Option('--status <status>', 'only this status').choices(STATUSES).default('pending'))
    .option('--principal <name>', 'only statements this principal sent')
    .option('--json', 'print only JSON')
    .action(
      run(async (ctx, o: { status: string; principal?: string }) => {
        const r = await ctx.client().get<{ reviews: ReviewOut[] }>(`/api/v1/statement-reviews${qs({ status: o.status, principal: o.principal })}`);
        const rows = r.reviews.map((x) => ({ id: x.id, status: x.status, asked_by: asker(x), resource: x.resource, role: x.role, statement: shortText(x.statement), approvals: `${x.approvals.length}/${x.approvals_needed}`, expires: x.status === 'pending' ? when(x.expires_at) : '-' }));
        ctx.out(table(rows, ['id', 'status', 'asked_by', 'resource', 'role', 'statement', 'approvals', 'expires']), r);
      }),
    );

  reviews
    .command('show')
    .description('one held statement: its exact text, parameters, what it touches, who asks, and until when')
    .argument('<id>', 'review id (rev_…)')
    .option('--json', 'print only JSON')
    .action(
      run(async (ctx, id: string) => {
        const r = await ctx.client().get<ReviewOut>(`/api/v1/statement-reviews/${encodeURIComponent(id)}`);
        ctx.out(reviewText(r), r);
      }),
    );
}
