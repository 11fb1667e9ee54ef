// Reports (admins and auditors): the access report for a period — one row per grant, totals per resource and
// principal, times in the viewer's zone, a streamed CSV download — and the standing-access check.
import { useState, type FormEvent } from 'react';
import { getJson } from '../api/client.js';
import { makeAccessReport, makeStanding, type ReportRow, type ReportTotal } from '../api/report-models.js';
import { api, type ReportQuery } from '../api/urls.js';
import { DataTable, Empty, Field, Loaded, Section, StatusBadge } from '../components/ui.js';
import { useLoad } from '../lib/hooks.js';
import { formatTime, timeInputToIso, toTimeInput, zoneName } from '../lib/time.js';

interface Filters {
  since: string;
  until: string;
  resource: string;
  principal: string;
}

const DAY = 86400_000;
const timeProblem = (v: string, required = false): string | null =>
  !v.trim() ? (required ? 'Say when the period starts.' : null) : !timeInputToIso(v) ? `"${v.trim()}" is not a time; write e.g. ${toTimeInput(new Date())}.` : null;

/** The calendar quarter before the one `now` is in, in the viewer's zone. */
function lastQuarter(now: Date): { since: Date; until: Date } {
  const q = Math.floor(now.getMonth() / 3);
  return { since: new Date(now.getFullYear(), (q - 1) * 3, 1), until: new Date(now.getFullYear(), q * 3, 1) };
}

const toQuery = (f: Filters): ReportQuery => ({ since: timeInputToIso(f.since) ?? '', until: timeInputToIso(f.until), resource: f.resource.trim() || undefined, principal: f.principal.trim() || undefined });
const hrs = (s: number) => `${Math.round((s / 3600) * 100) / 100} h`;
const zone = () => Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';

function Approval(props: { row: ReportRow }) {
  const a = props.row.approval;
  if (a.kind === 'auto') return <span title={a.rule ?? undefined}>auto-approved</span>;
  if (a.kind === 'break_glass') {
    return (
      <span>
        <strong>break-glass</strong>
        {a.postHoc ? `; ${a.postHoc.decision === 'approve' ? 'approved' : 'denied'} after by ${a.postHoc.reviewer}, ${formatTime(a.postHoc.at)}` : '; review owed'}
      </span>
    );
  }
  return <span>{a.approvers.join(', ') || '–'}</span>;
}

function Ended(props: { row: ReportRow }) {
  const e = props.row.end;
  return (
    <>
      <StatusBadge status={e.kind} />
      {e.by && e.kind !== 'expired' ? ` by ${e.by}` : ''}
      {e.reason ? <div className="small">{e.reason}</div> : null}
    </>
  );
}

function TotalsTable(props: { title: string; totals: ReportTotal[]; testId: string }) {
  return (
    <DataTable columns={[props.title, 'Grants', 'Break-glass', 'Hours in period']} className="totals">
      {props.totals.map((t) => (
        <tr key={t.name} data-testid={props.testId}>
          <td data-label={props.title}>{t.name}</td>
          <td data-label="Grants">{t.grants}</td>
          <td data-label="Break-glass">{t.breakGlass}</td>
          <td data-label="Hours in period">{t.hours}</td>
        </tr>
      ))}
    </DataTable>
  );
}

function Standing(props: { query: ReportQuery }) {
  const [hours, setHours] = useState('40');
  const [gap, setGap] = useState('5');
  const [asked, setAsked] = useState<{ hours: number; gap: number } | null>(null);
  const bad = !(Number(hours) >= 0) || hours.trim() === '' ? 'A number of hours, e.g. 40.' : !(Number(gap) >= 0) || gap.trim() === '' ? 'A number of minutes, e.g. 5.' : null;
  const found = useLoad((signal) => (asked ? getJson(api.reportStanding({ ...props.query, hours: asked.hours, gapMinutes: asked.gap }), makeStanding, { signal }) : Promise.resolve(null)), [JSON.stringify(props.query), JSON.stringify(asked)]);
  const check = (e: FormEvent) => {
    e.preventDefault();
    if (!bad) setAsked({ hours: Number(hours), gap: Number(gap) });
  };
  return (
    <Section title="Standing access">
      <p className="muted small">Principals who held one resource for more than N hours in the period, or renewed it back to back (a new grant within the gap of the last one ending): temporary access drifting into standing access.</p>
      <form className="filters" onSubmit={check} aria-label="Standing access check">
        <Field label="More than (hours)" error={bad}>{(f) => <input id={f.id} value={hours} onChange={(e) => setHours(e.target.value)} inputMode="decimal" aria-invalid={f.invalid} aria-describedby={f.describedBy} />}</Field>
        <Field label="Renewal gap (minutes)">{(f) => <input id={f.id} value={gap} onChange={(e) => setGap(e.target.value)} inputMode="numeric" />}</Field>
        <div className="actions">
          <button type="submit">Check standing access</button>
        </div>
      </form>
      {asked && (
        <Loaded {...found} what="the check">
          {(list) =>
            !list || list.length === 0 ? (
              <Empty>Nobody held a resource more than {asked.hours} h in this period or renewed it back to back.</Empty>
            ) : (
              <DataTable columns={['Principal', 'Resource', 'Grants', 'Hours in period', 'Over the limit', 'Back-to-back renewals']}>
                {list.map((f) => (
                  <tr key={`${f.principal}/${f.resource}`} data-testid="standing-finding">
                    <td data-label="Principal">{f.principal}</td>
                    <td data-label="Resource">{f.resource}</td>
                    <td data-label="Grants">{f.grants}</td>
                    <td data-label="Hours in period">{f.hours}</td>
                    <td data-label="Over the limit">{f.overHours ? `yes (> ${asked.hours} h)` : 'no'}</td>
                    <td data-label="Back-to-back renewals" className="small">
                      {f.chains.map((c) => `${c.grantIds.length} grants, ${formatTime(c.startsAt)} to ${formatTime(c.endsAt)} (${c.hours} h)`).join('; ') || '–'}
                    </td>
                  </tr>
                ))}
              </DataTable>
            )
          }
        </Loaded>
      )}
    </Section>
  );
}

export function Reports() {
  const [draft, setDraft] = useState<Filters>(() => ({ since: toTimeInput(new Date(Date.now() - 30 * DAY)), until: '', resource: '', principal: '' }));
  const [applied, setApplied] = useState<Filters>(draft);
  const query = toQuery(applied);
  const report = useLoad((signal) => getJson(api.reportAccess(query), makeAccessReport, { signal }), [JSON.stringify(query)]);
  const zn = zoneName(new Date());
  const set = (k: keyof Filters) => (e: { target: { value: string } }) => setDraft((d) => ({ ...d, [k]: e.target.value }));
  const apply = (e?: FormEvent) => {
    e?.preventDefault();
    if (timeProblem(draft.since, true) || timeProblem(draft.until)) return;
    setApplied(draft);
  };
  const preset = (since: Date, until: Date | null) => {
    const next = { ...draft, since: toTimeInput(since), until: until ? toTimeInput(until) : '' };
    setDraft(next);
    setApplied(next);
  };

  return (
    <div className="page">
      <h1>Reports</h1>
      <Section title="Access report">
        <form className="filters" onSubmit={apply} aria-label="Report period and filters">
          <Field label="From" hint={`YYYY-MM-DD HH:MM, ${zn}`} error={timeProblem(draft.since, true)}>
            {(f) => <input id={f.id} value={draft.since} onChange={set('since')} autoComplete="off" spellCheck={false} aria-describedby={f.describedBy} aria-invalid={f.invalid} />}
          </Field>
          <Field label="Until" hint={`empty: now; ${zn}`} error={timeProblem(draft.until)}>
            {(f) => <input id={f.id} value={draft.until} onChange={set('until')} placeholder="now" autoComplete="off" spellCheck={false} aria-describedby={f.describedBy} aria-invalid={f.invalid} />}
          </Field>
          <Field label="Resource">{(f) => <input id={f.id} value={draft.resource} onChange={set('resource')} placeholder="all" autoComplete="off" />}</Field>
          <Field label="Principal">{(f) => <input id={f.id} value={draft.principal} onChange={set('principal')} placeholder="all" autoComplete="off" />}</Field>
          <div className="actions">
            <button type="submit" className="primary">Show report</button>
            <button type="button" onClick={() => preset(new Date(Date.now() - 7 * DAY), null)}>Last 7 days</button>
            <button type="button" onClick={() => preset(new Date(Date.now() - 90 * DAY), null)}>Last 90 days</button>
            <button type="button" onClick={() => { const q = lastQuarter(new Date()); preset(q.since, q.until); }}>Last quarter</button>
            <a className="button" href={api.reportCsv(query, zone())} download>Download CSV</a>
          </div>
        </form>
        <Loaded {...report} what="the report">
          {(r) =>
            r.rows.length === 0 ? (
              <Empty>No grant was active in this period{query.resource || query.principal ? ' for these filters' : ''}.</Empty>
            ) : (
              <>
                <p className="muted small" role="status">
                  {r.rows.length} grant{r.rows.length === 1 ? '' : 's'}, oldest first. Times are in your zone, {zn}. The CSV writes them in {zone()}.
                </p>
                <DataTable columns={['Principal', 'Resource / role', 'Started', 'Ended', 'Hours (in period / requested)', 'How it ended', 'Reason', 'Approved by', 'Sessions', 'Statements', 'Refused', 'Audit seqs']} className="report">
                  {r.rows.map((row) => (
                    <tr key={row.grantId} data-testid="report-row" data-grant={row.grantId}>
                      <td data-label="Principal">{row.principal}{row.sponsor ? <div className="small muted">agent of {row.sponsor}</div> : null}</td>
                      <td data-label="Resource / role" className="name">{row.resource}<div className="small muted">{row.role}</div></td>
                      <td data-label="Started" className="nowrap small">{formatTime(row.startedAt)}</td>
                      <td data-label="Ended" className="nowrap small">{row.endedAt ? formatTime(row.endedAt) : 'active'}</td>
                      <td data-label="Hours (in period / requested)" className="nowrap">{hrs(row.secondsInPeriod)} / {row.requestedSeconds === null ? '–' : hrs(row.requestedSeconds)}</td>
                      <td data-label="How it ended"><Ended row={row} /></td>
                      <td data-label="Reason" className="small">{row.ticket ? <strong>{row.ticket} </strong> : null}<span className="pre-wrap">{row.reason}</span></td>
                      <td data-label="Approved by" className="small"><Approval row={row} /></td>
                      <td data-label="Sessions">{row.sessions}</td>
                      <td data-label="Statements">{row.statements}</td>
                      <td data-label="Refused">{row.refusedStatements}</td>
                      <td data-label="Audit seqs" className="small">
                        <details>
                          <summary>{row.seqs.length} kinds</summary>
                          <ul>{row.seqs.map((s) => <li key={s.label}>{s.label.replace(/_/g, ' ')}: {s.seqs.join(', ')}</li>)}</ul>
                        </details>
                      </td>
                    </tr>
                  ))}
                </DataTable>
                <h3>Totals per resource</h3>
                <TotalsTable title="Resource" totals={r.byResource} testId="total-resource" />
                <h3>Totals per principal</h3>
                <TotalsTable title="Principal" totals={r.byPrincipal} testId="total-principal" />
              </>
            )
          }
        </Loaded>
      </Section>
      <Standing query={query} />
    </div>
  );
}
