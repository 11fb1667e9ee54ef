// `airlock sessions|kill`: live connections made under grants, and ending one now.
import type { Command } from 'commander';
import { run } from './command.js';
import { table, when } from './output.js';

export function registerSessionCommands(program: Command): void {
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
}
