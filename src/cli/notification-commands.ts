// `airlock notifications` and `airlock notifications retry ntf_…`: the outbox's messages per channel, and sending a
// dead one again.
import { Option, type Command } from 'commander';
import { run } from './command.js';
import { qs } from './client.js';
import { table, when } from './output.js';

/** The NotificationView JSON of the API (src/notify/outbox-rows.ts), as far as the CLI reads it. */
interface NotificationOut {
  id: string;
  channel: string;
  kind: string;
  event: string;
  subject: { kind: string; id: string } | null;
  status: string;
  attempts: number;
  last_error: string | null;
  next_attempt_at: string | null;
  created_at: string;
  delivered_at: string | null;
}

function shortText(s: string | null, max = 50): string {
  if (!s) return '-';
  const one = s.replace(/\s+/g, ' ').trim();
  return one.length > max ? `${one.slice(0, max - 1)}…` : one;
}

export function registerNotificationCommands(program: Command): void {
  const notifications = program
    .command('notifications')
    .description('notification messages per channel: pending, delivered, dead (admins and auditors)')
    .addOption(new Option('--status <status>', 'only this status').choices(['pending', 'delivered', 'dead', 'all']).default('all'))
    .option('--limit <n>', 'at most this many, newest first', '100')
    .option('--json', 'print only JSON')
    .action(
      run(async (ctx, o: { status: string; limit: string }) => {
        const r = await ctx.client().get<{ notifications: NotificationOut[] }>(`/api/v1/notifications${qs({ status: o.status, limit: o.limit })}`);
        const rows = r.notifications.map((n) => ({
          id: n.id, channel: `${n.channel} (${n.kind})`, event: n.event, subject: n.subject ? n.subject.id : '-', status: n.status, attempts: n.attempts,
          last_error: shortText(n.last_error), next_attempt: n.status === 'pending' ? when(n.next_attempt_at) : '-', created: when(n.created_at),
        }));
        const dead = r.notifications.filter((n) => n.status === 'dead').length;
        const hint = dead ? `\n${dead} dead: send one again with: airlock notifications retry ntf_…\n` : '';
        ctx.out(table(rows, ['id', 'channel', 'event', 'subject', 'status', 'attempts', 'last_error', 'next_attempt', 'created']) + hint, r);
      }),
    );

  notifications
    .command('retry')
    .description('send a dead message again, with a fresh set of attempts (admin; audited)')
    .argument('<id>', 'notification id (ntf_…)')
    .option('--json', 'print only JSON')
    .action(
      run(async (ctx, id: string) => {
        const n = await ctx.client().post<NotificationOut>(`/api/v1/notifications/${encodeURIComponent(id)}/retry`);
        ctx.out(`Queued ${id} (${n.event} to ${n.channel}) again; it is sent now. Follow it with: airlock notifications --status pending`, n);
      }),
    );
}
