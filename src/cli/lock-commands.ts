// `airlock lock|unlock`: an admin's instant block on a principal, resource or role, and lifting it.
import type { Command } from 'commander';
import { run } from './command.js';
import { table, when, UsageError } from './output.js';

export function registerLockCommands(program: Command): void {
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
}
