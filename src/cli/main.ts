// The airlock command line: every command takes --json; exit codes 0 ok, 1 error, 2 usage, 3 refused by policy.
import { Command, CommanderError, Option } from 'commander';
import { makeClient, qs, saveCredentials, type Client } from './client.js';
import { EXIT, exitCodeFor, printError, printJson, table, when, UsageError } from './output.js';
import { waitForDecision } from './wait.js';
import { registerServerCommands } from './server-commands.js';
import { registerAuditCommands } from './audit-commands.js';
import { registerPolicyCommands } from './policy-commands.js';
import { registerConnectCommands } from './connect-commands.js';
import { registerPasswdCommand } from './passwd-command.js';

export interface Ctx {
  json: boolean;
  client(): Client;
  out(human: string, json: unknown): void;
}

type Action = (ctx: Ctx, ...args: any[]) => Promise<number | void>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** Wraps a command: builds the context from flags, prints errors in the chosen format, sets the exit code. */
export function run(fn: Action) {
  return async function airlockCommand(...args: unknown[]) {
    const cmd = args[args.length - 1] as Command;
    const o = cmd.optsWithGlobals() as { json?: boolean; server?: string; token?: string };
    const json = Boolean(o.json);
    const ctx: Ctx = {
      json,
      client: () => makeClient({ server: o.server, token: o.token }),
      out: (human, data) => (json ? printJson(data) : process.stdout.write(human.endsWith('\n') ? human : `${human}\n`)),
    };
    try {
      const code = await fn(ctx, ...args);
      process.exitCode = code ?? EXIT.ok;
    } catch (e) {
      printError(e, json);
      process.exitCode = exitCodeFor(e);
    }
  };
}

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
interface GrantOut {
  id: string;
  principal: string;
  resource: string;
  role: string;
  status: string;
  starts_at: string;
  expires_at: string;
  ended_at: string | null;
  end_reason: string | null;
}

function requestLine(r: RequestOut): string {
  const head = `${r.id}  ${r.status}  ${r.principal} → ${r.role} on ${r.resource}`;
  if (r.status === 'approved') return `${head}\n  grant ${r.grant_id}${r.decided_by ? `, approved by ${r.decided_by}` : ''}`;
  if (r.status === 'pending') return `${head}\n  waiting for review; times out ${when(r.timeout_at)}`;
  return `${head}${r.decided_by ? ` (by ${r.decided_by})` : ''}`;
}

function grantRows(grants: GrantOut[]) {
  return grants.map((g) => ({ id: g.id, principal: g.principal, resource: g.resource, role: g.role, status: g.status, starts_at: when(g.starts_at), expires_at: when(g.expires_at) }));
}

export function buildProgram(): Command {
  const program = new Command('airlock')
    .description('Just-in-time, time-bound, audited access to production.')
    .option('--json', 'print only JSON')
    .option('--server <url>', 'Airlock server URL (default: AIRLOCK_SERVER, saved login, or http://127.0.0.1:8080)')
    .option('--token <token>', 'access token (default: AIRLOCK_TOKEN or saved login)')
    .showHelpAfterError('(run airlock --help for usage)')
    .exitOverride();

  registerServerCommands(program);

  program
    .command('login')
    .description('check a token against the server and save both for later commands')
    .option('--json', 'print only JSON')
    .action(
      run(async (ctx) => {
        const client = ctx.client();
        let token = (program.opts() as { token?: string }).token ?? process.env.AIRLOCK_TOKEN;
        if (!token) {
          if (process.stdin.isTTY) process.stderr.write('Paste your access token and press Enter: ');
          token = await new Promise<string>((resolve) => {
            let buf = '';
            process.stdin.setEncoding('utf8');
            process.stdin.on('data', (c) => {
              buf += c;
              if (buf.includes('\n')) {
                process.stdin.pause();
                resolve(buf.split('\n')[0]!.trim());
              }
            });
            process.stdin.on('end', () => resolve(buf.trim()));
          });
        }
        if (!token) throw new UsageError('No token given: pass --token, set AIRLOCK_TOKEN, or paste it when asked.');
        const me = await makeClient({ server: client.server, token }).get<{ principal: { name: string } }>('/api/v1/whoami');
        const path = saveCredentials({ server: client.server, token });
        ctx.out(`Logged in to ${client.server} as ${me.principal.name}. Saved to ${path}.`, { ok: true, server: client.server, principal: me.principal.name, saved_to: path });
      }),
    );

  program
    .command('whoami')
    .description('who your token belongs to, and what you may do')
    .option('--json', 'print only JSON')
    .action(
      run(async (ctx) => {
        const me = await ctx.client().get<{ principal: { name: string; kind: string; groups: string[] }; admin: boolean; auditor: boolean; approver_of: string[]; token: { expires_at: string } | null }>('/api/v1/whoami');
        ctx.out(
          `${me.principal.name} (${me.principal.kind}), groups: ${me.principal.groups.join(', ') || 'none'}\n` +
            `admin: ${me.admin ? 'yes' : 'no'}, auditor: ${me.auditor ? 'yes' : 'no'}, approver of: ${me.approver_of.join(', ') || 'none'}\n` +
            (me.token ? `token expires ${when(me.token.expires_at)}` : ''),
          me,
        );
      }),
    );

  program
    .command('resources')
    .description('resources, with the roles you may request on each and their limits')
    .option('--json', 'print only JSON')
    .action(
      run(async (ctx) => {
        const r = await ctx.client().get<{ resources: { name: string; kind: string; labels: Record<string, string>; roles: { role: string; max_duration: string; approvals: number; read_only: boolean; break_glass: boolean; justification: { hint: string | null } }[] }[] }>('/api/v1/resources');
        const rows = r.resources.flatMap((res) =>
          res.roles.length
            ? res.roles.map((ro) => ({ resource: res.name, kind: res.kind, labels: Object.entries(res.labels).map(([k, v]) => `${k}=${v}`).join(','), role: ro.role, max: ro.max_duration, approvals: ro.approvals, access: ro.read_only ? 'read' : 'write', 'break-glass': ro.break_glass ? 'yes' : 'no' }))
            : [{ resource: res.name, kind: res.kind, labels: Object.entries(res.labels).map(([k, v]) => `${k}=${v}`).join(','), role: '(none for you)' }],
        );
        ctx.out(table(rows, ['resource', 'kind', 'labels', 'role', 'max', 'approvals', 'access', 'break-glass']), r);
      }),
    );

  program
    .command('request')
    .description('ask for a role on a resource for a while, saying why')
    .argument('<resource>', 'resource name (see: airlock resources)')
    .requiredOption('--role <role>', 'role to ask for')
    .requiredOption('--for <duration>', 'how long, e.g. 30m, 1h, 2h30m')
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
      .description(verb === 'approve' ? 'approve a request (the last approval needed starts the grant)' : 'deny a request, saying why')
      .argument('<id>', 'request id (req_…)')
      .option('--json', 'print only JSON');
    if (verb === 'deny') c.requiredOption('--comment <text>', 'why; the requester reads it');
    else c.option('--comment <text>', 'a note for the record');
    c.action(
      run(async (ctx, id: string, o: { comment?: string }) => {
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

  program
    .command('grants')
    .description('list grants: yours, or everyone\'s for admins and auditors')
    .option('--active', 'only active grants')
    .option('--principal <name>', 'only this principal\'s (admins and auditors)')
    .option('--resource <name>', 'only this resource')
    .option('--json', 'print only JSON')
    .action(
      run(async (ctx, o: { active?: boolean; principal?: string; resource?: string }) => {
        const r = await ctx.client().get<{ grants: GrantOut[] }>(`/api/v1/grants${qs({ active: o.active, principal: o.principal, resource: o.resource })}`);
        ctx.out(table(grantRows(r.grants), ['id', 'principal', 'resource', 'role', 'status', 'starts_at', 'expires_at']), r.grants);
      }),
    );

  program
    .command('revoke')
    .description('end a grant now (yours, or any for admins); its live sessions end')
    .argument('<id>', 'grant id (grt_…)')
    .requiredOption('--reason <text>', 'why')
    .option('--json', 'print only JSON')
    .action(
      run(async (ctx, id: string, o: { reason: string }) => {
        const g = await ctx.client().post<GrantOut>(`/api/v1/grants/${encodeURIComponent(id)}/revoke`, { reason: o.reason });
        ctx.out(`Revoked ${g.id} (${g.principal}, ${g.role} on ${g.resource}) at ${when(g.ended_at)}.`, g);
      }),
    );

  program
    .command('lock')
    .description('block a principal, resource or role now: refuses new grants and sessions, ends live ones (admin)')
    .argument('[kind]', 'principal | resource | role')
    .argument('[name]', 'its name')
    .option('--reason <text>', 'why')
    .option('--list', 'list active locks instead')
    .option('--json', 'print only JSON')
    .action(
      run(async (ctx, kind: string | undefined, name: string | undefined, o: { reason?: string; list?: boolean }) => {
        const client = ctx.client();
        if (o.list) {
          const r = await client.get<{ locks: { id: string; target_kind: string; target: string; reason: string; created_by: string; created_at: string }[] }>('/api/v1/locks');
          ctx.out(table(r.locks.map((l) => ({ id: l.id, target: `${l.target_kind}:${l.target}`, reason: l.reason, by: l.created_by, since: when(l.created_at) })), ['id', 'target', 'reason', 'by', 'since']), r.locks);
          return;
        }
        if (!kind || !name || !['principal', 'resource', 'role'].includes(kind)) throw new UsageError('Usage: airlock lock principal|resource|role NAME --reason TEXT (or airlock lock --list)');
        if (!o.reason) throw new UsageError('Say why you lock: --reason TEXT');
        const l = await client.post<{ id: string; grants_ended: number }>('/api/v1/locks', { target_kind: kind, target: name, reason: o.reason });
        ctx.out(`Locked ${kind} ${name} (${l.id}); ${l.grants_ended} active grant(s) ended. Lift with: airlock unlock ${l.id}`, l);
      }),
    );

  program
    .command('unlock')
    .description('lift a lock (admin)')
    .argument('<id>', 'lock id (lck_…)')
    .option('--json', 'print only JSON')
    .action(
      run(async (ctx, id: string) => {
        const l = await ctx.client().post<{ target_kind: string; target: string }>(`/api/v1/locks/${encodeURIComponent(id)}/lift`);
        ctx.out(`Lifted lock ${id} on ${l.target_kind} ${l.target}.`, l);
      }),
    );

  program
    .command('sessions')
    .description('live sessions (yours, or all for admins and auditors)')
    .option('--json', 'print only JSON')
    .action(
      run(async (ctx) => {
        const r = await ctx.client().get<{ sessions: { id: string; principal: string; resource: string; role: string; started_at: string; statements: number }[] }>('/api/v1/sessions');
        ctx.out(table(r.sessions.map((s) => ({ ...s, started_at: when(s.started_at) })), ['id', 'principal', 'resource', 'role', 'started_at', 'statements']), r.sessions);
      }),
    );

  program
    .command('kill')
    .description('end a live session now (admin)')
    .argument('<id>', 'session id (ses_…)')
    .option('--reason <text>', 'why', '')
    .option('--json', 'print only JSON')
    .action(
      run(async (ctx, id: string, o: { reason: string }) => {
        const r = await ctx.client().post<unknown>(`/api/v1/sessions/${encodeURIComponent(id)}/kill`, { reason: o.reason });
        ctx.out(`Ended session ${id}.`, r);
      }),
    );

  const token = program.command('token').description('access tokens');
  token
    .command('create')
    .description('create an access token (shown once)')
    .requiredOption('--principal <name>', 'whose token')
    .option('--ttl <duration>', 'lifetime, e.g. 8h, 30d', '8h')
    .option('--label <text>', 'what it is for')
    .option('--json', 'print only JSON')
    .action(
      run(async (ctx, o: { principal: string; ttl: string; label?: string }) => {
        const t = await ctx.client().post<{ token: string; id: string; principal: string; expires_at: string }>('/api/v1/tokens', { principal: o.principal, ttl: o.ttl, label: o.label });
        ctx.out(`${t.token}\n# token ${t.id} for ${t.principal}, expires ${when(t.expires_at)}. It is shown only now.`, t);
      }),
    );
  token
    .command('list')
    .description('list tokens (never their values)')
    .option('--principal <name>', 'whose (admins)')
    .option('--json', 'print only JSON')
    .action(
      run(async (ctx, o: { principal?: string }) => {
        const r = await ctx.client().get<{ tokens: { id: string; principal: string; label: string | null; expires_at: string; revoked_at: string | null }[] }>(`/api/v1/tokens${qs({ principal: o.principal })}`);
        ctx.out(table(r.tokens.map((t) => ({ id: t.id, principal: t.principal, label: t.label, expires: when(t.expires_at), revoked: t.revoked_at ? when(t.revoked_at) : '-' })), ['id', 'principal', 'label', 'expires', 'revoked']), r.tokens);
      }),
    );
  token
    .command('revoke')
    .description('revoke a token')
    .argument('<id>', 'token id (tok_…)')
    .option('--json', 'print only JSON')
    .action(
      run(async (ctx, id: string) => {
        const r = await ctx.client().post<unknown>(`/api/v1/tokens/${encodeURIComponent(id)}/revoke`);
        ctx.out(`Revoked token ${id}.`, r);
      }),
    );

  registerAuditCommands(program);
  registerPolicyCommands(program);
  registerConnectCommands(program);
  registerPasswdCommand(program);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  const json = argv.includes('--json');
  try {
    await program.parseAsync(argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') {
        process.exitCode = 0;
        return;
      }
      if (json) printJson({ error: { code: 'AIRLOCK_USAGE', detail: e.message.replace(/^error: /, '') } });
      process.exitCode = EXIT.usage;
      return;
    }
    printError(e, json);
    process.exitCode = EXIT.error;
  }
}
