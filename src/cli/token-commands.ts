// `airlock token create|list|revoke`: access tokens for people and agents.
import type { Command } from 'commander';
import { run, durationArg } from './command.js';
import { qs } from './client.js';
import { table, when } from './output.js';

export function registerTokenCommands(program: Command): void {
  const token = program.command('token').description('access tokens');
  token
    .command('create')
    .description('create an access token (shown once)')
    .requiredOption('--principal <name>', 'whose token')
    .option('--ttl <duration>', 'lifetime, e.g. 8h, 30d', durationArg, '8h')
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
}
