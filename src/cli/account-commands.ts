// `airlock login|whoami|resources`: who you are to the server, and what you may ask for.
import type { Command } from 'commander';
import { run } from './command.js';
import { makeClient, saveCredentials } from './client.js';
import { table, when, UsageError } from './output.js';
import { listenersOf, type Gateways } from './connect-commands.js';
import { loginWithSso } from './sso-login.js';

function readTokenLine(): Promise<string> {
  if (process.stdin.isTTY) process.stderr.write('Paste your access token and press Enter: ');
  return new Promise<string>((resolve) => {
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

export function registerAccountCommands(program: Command): void {
  program
    .command('login')
    .description('check a token against the server and save both for later commands; --sso: sign in with the company\'s identity provider instead')
    .option('--sso', 'sign in with the identity provider (device code where it offers one, else the browser) and save the token it gives')
    .option('--browser', 'with --sso: sign in through this machine\'s browser even when the device flow is offered')
    .option('--json', 'print only JSON')
    .action(
      run(async (ctx, o: { sso?: boolean; browser?: boolean }, cmd: Command) => {
        const client = ctx.client();
        if (o.browser && !o.sso) throw new UsageError('--browser goes with --sso.');
        if (o.sso) {
          const t = await loginWithSso(client, { browser: o.browser ?? false });
          const path = saveCredentials({ server: client.server, token: t.token });
          ctx.out(
            `Logged in to ${client.server} as ${t.principal} with single sign-on (groups: ${t.groups.join(', ') || 'none'}); the token expires ${when(t.expires_at)}. Saved to ${path}.`,
            { ok: true, server: client.server, principal: t.principal, groups: t.groups, expires_at: t.expires_at, method: t.method, saved_to: path },
          );
          return;
        }
        const token = (cmd.optsWithGlobals() as { token?: string }).token ?? process.env.AIRLOCK_TOKEN ?? (await readTokenLine());
        if (!token) throw new UsageError('No token given: pass --token, set AIRLOCK_TOKEN, or paste it when asked.');
        const me = await makeClient({ server: client.server, token }).get<{ principal: { name: string } }>('/api/v1/whoami');
        const path = saveCredentials({ server: client.server, token });
        ctx.out(`Logged in to ${client.server} as ${me.principal.name}. Saved to ${path}.`, { ok: true, server: client.server, principal: me.principal.name, saved_to: path });
      }),
    );

  program
    .command('identities')
    .description('single sign-on identities (admin): unlink PRINCIPAL forgets the IdP account it is pinned to')
    .command('unlink')
    .description('unlink a principal from the IdP subject it first signed in with, and drop its IdP groups (admin)')
    .argument('<principal>', 'the principal')
    .option('--json', 'print only JSON')
    .action(
      run(async (ctx, principal: string) => {
        const r = await ctx.client().del<{ principal: string; subject: string; issuer: string }>(`/api/v1/identities/${encodeURIComponent(principal)}`);
        ctx.out(`Unlinked ${r.principal} from subject ${r.subject} (${r.issuer}); its next single sign-on links it again.`, r);
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
    .description('resources, with their kind, the gateway listener to connect to, and the roles you may request on each')
    .option('--json', 'print only JSON')
    .action(
      run(async (ctx) => {
        const client = ctx.client();
        const r = await client.get<{ resources: { name: string; kind: string; labels: Record<string, string>; roles: { role: string; max_duration: string; approvals: number; read_only: boolean; break_glass: boolean; justification: { hint: string | null } }[] }[] }>('/api/v1/resources');
        // The gateway each kind is reached through: the address a client connects to (airlock connect fills it in).
        const listeners = listenersOf(await client.get<Gateways>('/api/v1/gateways'));
        const listenerFor = (kind: string) => {
          const l = listeners.find((x) => x.kind === kind);
          return l ? `${l.host.includes(':') ? `[${l.host}]` : l.host}:${l.port}` : null;
        };
        const resources = r.resources.map((res) => ({ ...res, listener: listenerFor(res.kind) }));
        const rows = resources.flatMap((res) => {
          const labels = Object.entries(res.labels).map(([k, v]) => `${k}=${v}`).join(',');
          const listener = res.listener ?? '(no gateway)';
          return res.roles.length
            ? res.roles.map((ro) => ({ resource: res.name, kind: res.kind, listener, labels, role: ro.role, max: ro.max_duration, approvals: ro.approvals, access: ro.read_only ? 'read' : 'write', 'break-glass': ro.break_glass ? 'yes' : 'no' }))
            : [{ resource: res.name, kind: res.kind, listener, labels, role: '(none for you)' }];
        });
        ctx.out(table(rows, ['resource', 'kind', 'listener', 'labels', 'role', 'max', 'approvals', 'access', 'break-glass']), { resources });
      }),
    );
}
