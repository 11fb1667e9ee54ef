// Admin → Notifications: the outbox's messages per channel (pending, delivered, dead) with their attempts and last
// error; an admin sends a dead one again. Auditors see the same, read-only.
import { useState } from 'react';
import { getJson, postJson } from '../api/client.js';
import { makeNotification, type Notification } from '../api/models.js';
import { api } from '../api/urls.js';
import { Badge, DataTable, Empty, ErrorNote, Loaded, Section, Time, useAction, type Tone } from '../components/ui.js';
import { useLoad, useNow } from '../lib/hooks.js';
import { useViewer } from '../viewer.js';

const TONE: Record<Notification['status'], Tone> = { pending: 'warn', sending: 'info', delivered: 'good', dead: 'bad' };
const FILTERS = ['all', 'dead', 'pending', 'delivered'] as const;

export function Notifications() {
  const { me } = useViewer();
  const [status, setStatus] = useState<(typeof FILTERS)[number]>('all');
  // Messages change as the worker sends them: kept fresh by a poll, and at once after changes that make notices.
  const list = useLoad(
    (signal) => getJson(api.notifications({ status, limit: 50 }), (j) => (((j as { notifications?: unknown[] })?.notifications) ?? []).map(makeNotification), { signal }),
    [status],
    { live: ['request', 'statement_review', 'grant', 'lock'], pollMs: 10_000 },
  );
  const now = useNow(10_000);
  const [done, setDone] = useState<string | null>(null);
  const retry = useAction(async (n: Notification) => {
    await postJson(api.retryNotification(n.id), {}, (j) => j);
    setDone(`${n.event} to ${n.channel} is queued again.`);
    list.reload();
  });
  const filter = (
    <label className="small">
      Show{' '}
      <select value={status} onChange={(e) => setStatus(e.target.value as typeof status)} aria-label="Which notifications">
        {FILTERS.map((f) => (
          <option key={f} value={f}>
            {f}
          </option>
        ))}
      </select>
    </label>
  );
  return (
    <Section title="Notifications" actions={filter} count={list.data?.filter((n) => n.status === 'dead').length}>
      <p className="muted small">Messages to webhooks, Slack and e-mail. Failed attempts are retried with back-off; a message that still fails is dead until an admin retries it.</p>
      {done && (
        <p className="notice" role="status">
          {done}
        </p>
      )}
      <Loaded {...list} what="notifications">
        {(ns) =>
          ns.length === 0 ? (
            <Empty>{status === 'all' ? 'No notifications yet.' : `No ${status} notifications.`}</Empty>
          ) : (
            <DataTable columns={['Channel', 'Event', 'Status', 'Attempts', 'Last error', 'Next attempt', { hidden: 'Actions' }]} className="notifications">
              {ns.map((n) => (
                <tr key={n.id} data-testid="notification" data-status={n.status}>
                  <td data-label="Channel">
                    {n.channel} <span className="small muted">{n.kind}</span>
                  </td>
                  <td data-label="Event" title={n.text}>
                    {n.event}
                    {n.subject && <div className="small muted"><code>{n.subject.id}</code></div>}
                  </td>
                  <td data-label="Status">
                    <Badge tone={TONE[n.status]}>{n.status}</Badge>
                  </td>
                  <td data-label="Attempts">{n.attempts}</td>
                  <td data-label="Last error" className="small">{n.lastError ?? '–'}</td>
                  <td data-label="Next attempt">{n.nextAttemptAt ? <Time date={n.nextAttemptAt} now={now} relativeOnly /> : '–'}</td>
                  <td>
                    {me.admin && n.status === 'dead' && (
                      <button type="button" className="small" onClick={() => void retry.run(n)} disabled={retry.busy} aria-label={`Retry ${n.event} to ${n.channel}`}>
                        Retry
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </DataTable>
          )
        }
      </Loaded>
      {retry.error !== undefined && <ErrorNote error={retry.error} />}
    </Section>
  );
}
