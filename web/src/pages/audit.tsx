// Audit: the hash-chained log filtered by actor, action, resource/target and time; the chain's verification status
// (naming the first bad sequence number); and the same selection as a JSONL export.
import { useState, type FormEvent } from 'react';
import { getJson } from '../api/client.js';
import { makeAuditEvent, makeChainStatus, type AuditEvent } from '../api/models.js';
import { api, type AuditQuery } from '../api/urls.js';
import { DataTable, Empty, ErrorNote, Field, Loaded, Section, Time, useAction } from '../components/ui.js';
import { useLoad, useNow } from '../lib/hooks.js';
import { timeInputToIso, toTimeInput, zoneName } from '../lib/time.js';

const PAGE = 500;
const ACTIONS = [
  'request.*', 'request.create', 'request.approve', 'request.cancel', 'request.timeout', 'request.break_glass', 'request.auto_approve', 'request.refused',
  'review.*', 'grant.*', 'grant.activate', 'grant.expire', 'grant.revoke', 'lock.*', 'session.*', 'session.start', 'session.end', 'session.kill', 'session.refused', 'statement',
  'token.*', 'auth.refused', 'console.*', 'console.sign_in', 'console.sign_in_failed', 'password.set', 'policy.*', 'results.exported', 'server.start',
];

function summary(details: Record<string, unknown>): string {
  return Object.entries(details)
    .filter(([, v]) => v !== null && v !== undefined && v !== '')
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' · ');
}

interface Filters {
  actor: string;
  action: string;
  target: string;
  since: string;
  until: string;
}

const toQuery = (f: Filters): AuditQuery => ({ actor: f.actor.trim() || undefined, action: f.action.trim() || undefined, target: f.target.trim() || undefined, since: timeInputToIso(f.since), until: timeInputToIso(f.until) });

/** What is wrong with a time field, if anything: it is read as "YYYY-MM-DD HH:MM" in the viewer's zone. */
const timeProblem = (v: string): string | null => (v.trim() && !timeInputToIso(v) ? `"${v.trim()}" is not a time; write e.g. ${toTimeInput(new Date())}.` : null);

export function Audit() {
  const [draft, setDraft] = useState<Filters>(() => ({ actor: '', action: '', target: '', since: toTimeInput(new Date(Date.now() - 24 * 3600_000)), until: '' }));
  const [applied, setApplied] = useState<Filters>(draft);
  const [more, setMore] = useState<AuditEvent[]>([]);
  const [lastMoreFull, setLastMoreFull] = useState(false);
  const query = toQuery(applied);
  const events = useLoad((signal) => getJson(api.auditEvents({ ...query, limit: PAGE }), (j) => (((j as { events?: unknown[] }).events) ?? []).map(makeAuditEvent), { signal }), [JSON.stringify(query)]);
  const verify = useLoad((signal) => getJson(api.auditVerify(), makeChainStatus, { signal }), []);
  const now = useNow(10_000);
  const zone = zoneName(now);
  const all = [...(events.data ?? []), ...more];
  const last = all[all.length - 1];
  const loadMore = useAction(async () => {
    if (!last) return;
    const next = await getJson(api.auditEvents({ ...query, afterSeq: last.seq, limit: PAGE }), (j) => (((j as { events?: unknown[] }).events) ?? []).map(makeAuditEvent));
    setMore((m) => [...m, ...next]);
    setLastMoreFull(next.length === PAGE);
  });
  const hasMore = more.length > 0 ? lastMoreFull : events.data?.length === PAGE;

  const apply = (e: FormEvent) => {
    e.preventDefault();
    if (timeProblem(draft.since) || timeProblem(draft.until)) return;
    setMore([]);
    setApplied(draft);
    events.reload();
  };
  const set = (k: keyof Filters) => (e: { target: { value: string } }) => setDraft((d) => ({ ...d, [k]: e.target.value }));

  return (
    <div className="page">
      <h1>Audit</h1>
      <Section title="Chain verification" actions={<button type="button" className="small" onClick={verify.reload} disabled={verify.loading}>{verify.loading ? 'Verifying…' : 'Verify again'}</button>}>
        <Loaded {...verify} what="the verification">
          {(v) =>
            v.ok ? (
              <p className="verdict good" data-testid="chain-status">
                <strong>Chain intact.</strong> {v.events} events verified; the head is event {v.headSeq}. No event was edited, removed or reordered.
              </p>
            ) : (
              <p className="verdict bad" role="alert" data-testid="chain-status">
                <strong>Chain broken at event {v.firstBadSeq ?? '?'}.</strong> {v.reason ? `${v.reason.replace(/[.;:]?$/, '.')} ` : ''}
                {v.headSeq > 0 ? `Events 1 to ${v.headSeq} check out.` : 'No event before it checks out.'}
              </p>
            )
          }
        </Loaded>
      </Section>
      <Section title="Events">
        <form className="filters" onSubmit={apply} aria-label="Filter events">
          <Field label="Actor">{(f) => <input id={f.id} value={draft.actor} onChange={set('actor')} placeholder="alice" autoComplete="off" />}</Field>
          <Field label="Action" hint="exact, or a prefix ending in *">
            {(f) => (
              <>
                <input id={f.id} list={`${f.id}-list`} value={draft.action} onChange={set('action')} placeholder="grant.*" autoComplete="off" aria-describedby={f.describedBy} />
                <datalist id={`${f.id}-list`}>
                  {ACTIONS.map((a) => (
                    <option key={a} value={a} />
                  ))}
                </datalist>
              </>
            )}
          </Field>
          <Field label="Resource or target">{(f) => <input id={f.id} value={draft.target} onChange={set('target')} placeholder="prod-orders" autoComplete="off" />}</Field>
          <Field label="From" hint={`YYYY-MM-DD HH:MM, ${zone}`} error={timeProblem(draft.since)}>
            {(f) => <input id={f.id} value={draft.since} onChange={set('since')} placeholder={toTimeInput(new Date())} autoComplete="off" spellCheck={false} aria-describedby={f.describedBy} aria-invalid={f.invalid} />}
          </Field>
          <Field label="Until" hint={`empty: now; ${zone}`} error={timeProblem(draft.until)}>
            {(f) => <input id={f.id} value={draft.until} onChange={set('until')} placeholder="now" autoComplete="off" spellCheck={false} aria-describedby={f.describedBy} aria-invalid={f.invalid} />}
          </Field>
          <div className="actions">
            <button type="submit" className="primary">
              Show events
            </button>
            <a className="button" href={api.auditExport(query)} download="airlock-audit.jsonl">
              Export JSONL
            </a>
          </div>
        </form>
        <Loaded {...events} what="events">
          {() =>
            all.length === 0 ? (
              <Empty>No events match these filters.</Empty>
            ) : (
              <>
                <p className="muted small" role="status">
                  {all.length} event{all.length === 1 ? '' : 's'}, oldest first. Times are in your zone, {zone}.
                </p>
                <DataTable columns={['#', 'Time', 'Actor', 'Action', 'Target', 'Details']} className="audit">
                  {all.map((e) => (
                    <tr key={e.seq} data-testid="audit-event" data-action={e.action}>
                      <td data-label="#" className="nowrap">{e.seq}</td>
                      <td data-label="Time" className="nowrap small">
                        <Time date={e.time} now={now} />
                      </td>
                      <td data-label="Actor">{e.actor}</td>
                      <td data-label="Action">
                        <code>{e.action}</code>
                      </td>
                      <td data-label="Target" className="name">{e.target ?? '–'}</td>
                      <td data-label="Details" className="details small">
                        <details>
                          <summary>{summary(e.details) || '–'}</summary>
                          <pre>{JSON.stringify({ ...e.details, source: e.source, hash: e.hash }, null, 2)}</pre>
                        </details>
                      </td>
                    </tr>
                  ))}
                </DataTable>
                {hasMore && (
                  <button type="button" onClick={() => void loadMore.run()} disabled={loadMore.busy}>
                    {loadMore.busy ? 'Loading…' : 'Load more'}
                  </button>
                )}
                {loadMore.error !== undefined && <ErrorNote error={loadMore.error} />}
              </>
            )
          }
        </Loaded>
      </Section>
    </div>
  );
}
