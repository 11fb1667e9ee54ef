// `airlock grants|revoke`: the access that was granted, and ending it early.
import type { Command } from 'commander';
import { run } from './command.js';
import { qs } from './client.js';
import { table, when } from './output.js';

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

export function registerGrantCommands(program: Command): void {
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
        const rows = r.grants.map((g) => ({ id: g.id, principal: g.principal, resource: g.resource, role: g.role, status: g.status, starts_at: when(g.starts_at), expires_at: when(g.expires_at) }));
        ctx.out(table(rows, ['id', 'principal', 'resource', 'role', 'status', 'starts_at', 'expires_at']), r.grants);
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
}
