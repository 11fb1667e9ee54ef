// `airlock request|requests|approve|deny|cancel`: asking for access and deciding on it.
import { Option, type Command } from 'commander';
import { run, durationArg } from './command.js';
import { qs } from './client.js';
import { EXIT, table, when } from './output.js';
import { waitForDecision } from './wait.js';
import { decideStatementReview } from './review-commands.js';

interface RequestOut {
  id: string;
  status: string;
  resource: string;
  role: string;
  principal: string;
  duration_seconds: number;
  grant_id: string | null;
  created_at: string;
  timeout_at: string;
  decided_by: string | null;
  reason: string;
  break_glass: boolean;
}

function requestLine(r: RequestOut): string {
  const head = `${r.id}  ${r.status}  ${r.principal} → ${r.role} on ${r.resource}`;
  if (r.status === 'approved') return `${head}\n  grant ${r.grant_id}${r.decided_by ? `, approved by ${r.decided_by}` : ''}`;
  if (r.status === 'pending') return `${head}\n  waiting for review; times out ${when(r.timeout_at)}`;
  return `${head}${r.decided_by ? ` (by ${r.decided_by})` : ''}`;
}

export function registerRequestCommands(program: Command): void {
  program
    .command('request')
    .description('ask for a role on a resource for a while, saying why')
    .argument('<resource>', 'resource name (see: airlock resources)')
    .requiredOption('--role <role>', 'role to ask for')
    .requiredOption('--for <duration>', 'how long, e.g. 30m, 1h, 2h30m', durationArg)
    .option('--reason <text>', 'why you need access', '')
    .option('--ticket <ticket>', 'ticket reference, e.g. OPS-123')
    .option('--break-glass', 'emergency: granted at once, flagged, reviewed afterwards')
    .option('--extends <grant>', 'extend this grant (a new request linked to it)')
    .option('--wait', 'wait until the request is decided, with a live status line')
    .option('--json', 'print only JSON')
    .action(
      run(async (ctx, resource: string, o: { role: string; for: string; reason: string; ticket?: string; breakGlass?: boolean; extends?: string; wait?: boolean }) => {
        const client = ctx.client();
        let r = await client.post<RequestOut>('/api/v1/requests', { resource, role: o.role, duration: o.for, reason: o.reason, ticket: o.ticket, break_glass: Boolean(o.breakGlass), extends_grant_id: o.extends });
        if (o.wait && r.status === 'pending') {
          if (!ctx.json) process.stdout.write(`${requestLine(r)}\n`);
          r = (await waitForDecision(client, r.id, { live: !ctx.json })) as unknown as RequestOut;
        }
        ctx.out(requestLine(r), r);
        if (o.wait && r.status !== 'approved') return EXIT.refused;
        return EXIT.ok;
      }),
    );

  program
    .command('requests')
    .description('list requests: yours (default), those you may review, or all')
    .option('--reviewable', 'pending requests you may decide')
    .option('--all', 'everyone\'s (admins and auditors)')
    .addOption(new Option('--status <status>', 'only this status').choices(['pending', 'approved', 'denied', 'cancelled', 'timed_out']))
    .option('--json', 'print only JSON')
    .action(
      run(async (ctx, o: { reviewable?: boolean; all?: boolean; status?: string }) => {
        const scope = o.reviewable ? 'reviewable' : o.all ? 'all' : 'mine';
        const r = await ctx.client().get<{ requests: RequestOut[] }>(`/api/v1/requests${qs({ scope, status: o.status })}`);
        ctx.out(table(r.requests.map((x) => ({ id: x.id, status: x.status, principal: x.principal, resource: x.resource, role: x.role, for: `${Math.round(x.duration_seconds / 60)}m`, reason: x.reason.slice(0, 40), created: when(x.created_at) })), ['id', 'status', 'principal', 'resource', 'role', 'for', 'reason', 'created']), r);
      }),
    );

  for (const verb of ['approve', 'deny'] as const) {
    const c = program
      .command(verb)
      .description(verb === 'approve' ? 'approve a request (the last approval needed starts the grant), or a held statement (rev_…)' : 'deny a request or a held statement (rev_…), saying why')
      .argument('<id>', 'request id (req_…), or statement review id (rev_…, see: airlock reviews)')
      .option('--json', 'print only JSON');
    if (verb === 'deny') c.requiredOption('--comment <text>', 'why; the requester reads it');
    else c.option('--comment <text>', 'a note for the record');
    c.action(
      run(async (ctx, id: string, o: { comment?: string }) => {
        if (id.startsWith('rev_')) return decideStatementReview(ctx, verb, id, o.comment);
        const r = await ctx.client().post<{ request: RequestOut; grant_id: string | null }>(`/api/v1/requests/${encodeURIComponent(id)}/${verb}`, { comment: o.comment });
        const msg = verb === 'deny' ? `Denied ${id}.` : r.grant_id ? `Approved ${id}: grant ${r.grant_id} is active.` : r.request.status === 'approved' ? `Recorded your review of ${id}.` : `Recorded your approval of ${id}; more approvals are needed.`;
        ctx.out(msg, r);
      }),
    );
  }

  program
    .command('cancel')
    .description('cancel your pending request')
    .argument('<id>', 'request id (req_…)')
    .option('--json', 'print only JSON')
    .action(
      run(async (ctx, id: string) => {
        const r = await ctx.client().post<RequestOut>(`/api/v1/requests/${encodeURIComponent(id)}/cancel`);
        ctx.out(`Cancelled ${id}.`, r);
      }),
    );
}
