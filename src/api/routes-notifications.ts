// API routes for the notification outbox: what was sent, what waits, what is dead (admins and auditors read), and an
// admin's retry of a dead message.
import { z } from 'zod';
import type { Access } from '../access/access.js';
import type { Outbox, NotificationView } from '../notify/outbox.js';
import type { RouteDef } from './routing.js';
import { forbidden } from './routing.js';
import { canSeeAll } from './routes-access.js';

const time = z.string().describe('ISO-8601 UTC time');

export const notificationRecord = z
  .object({
    id: z.string().describe('ntf_…'),
    channel: z.string().describe("the channel's name in the policy"),
    kind: z.string().describe("the channel's kind: webhook, slack or email"),
    event: z.string().describe('the notice, e.g. request.created'),
    key: z.string().describe('event:subject kind:subject id — one message per key per channel'),
    subject: z.object({ kind: z.string(), id: z.string() }).nullable().describe('what it is about (a request, a statement review…)'),
    status: z.enum(['pending', 'sending', 'delivered', 'dead']).describe('pending (or sending) → delivered, or dead after its last attempt or a refusal'),
    attempts: z.number().int().describe('attempts so far'),
    text: z.string().describe('the line a person reads'),
    last_error: z.string().nullable().describe("the last failed attempt's error (an HTTP status, a refused connection, a timeout)"),
    next_attempt_at: time.nullable().describe('when the next attempt is due (pending only)'),
    created_at: time,
    updated_at: time,
    delivered_at: time.nullable(),
  })
  .describe('One message of one channel in the notification outbox') satisfies z.ZodType<NotificationView>;

const id = z.strictObject({ id: z.string().min(1).max(100).describe('the notification id, ntf_…') });

export function notificationRoutes(deps: { access: Access; outbox: Outbox }): RouteDef<any, any, any>[] { // eslint-disable-line @typescript-eslint/no-explicit-any
  const { access, outbox } = deps;
  return [
    {
      method: 'GET', url: '/api/v1/notifications', tag: 'notifications', summary: 'Notification messages, newest first: pending, delivered or dead (admins and auditors)',
      response: z.object({ notifications: z.array(notificationRecord) }),
      query: z.strictObject({
        status: z.enum(['pending', 'delivered', 'dead', 'all']).default('all').describe('pending includes messages being sent'),
        limit: z.coerce.number().int().min(1).max(1000).default(100),
      }),
      async handler({ caller, query }) {
        if (!canSeeAll(access, caller)) throw forbidden('Only admins and auditors can read the notification outbox.');
        return { notifications: await outbox.list({ status: query.status, limit: query.limit }) };
      },
    },
    {
      method: 'POST', url: '/api/v1/notifications/:id/retry', tag: 'notifications', summary: 'Send a dead message again, with a fresh set of attempts (admin; audited)', params: id,
      response: notificationRecord,
      async handler({ caller, params }) {
        if (!access.policy().isAdmin(caller.principal)) throw forbidden('Only an admin can retry a notification.');
        return outbox.retry(params.id, { actor: caller.principal.name, source: caller.source });
      },
    },
  ];
}
