// Sessions: live ones (who, where, since when, statements so far) with Kill for admins and Watch for terminals; ended
// ones, each with its statement timeline (statement, decision, rows, duration, error), from the gateway's audit events,
// and Play for those with a recording (SSH, exec).
import { lazy, Suspense, useState } from 'react';
import { getJson, postJson } from '../api/client.js';
import { makeLiveSession, makeSessionSummary, makeStatement, type LiveSession, type SessionSummary } from '../api/models.js';
import { api, page } from '../api/urls.js';
import { Badge, DataTable, Empty, ErrorNote, Field, Link, Loaded, Loading, Section, StatusBadge, Time, useAction } from '../components/ui.js';
import { useLoad, useNow } from '../lib/hooks.js';
import { formatClock, formatDuration, formatMs, formatTime } from '../lib/time.js';
import { useViewer } from '../viewer.js';

// The player (and its terminal emulator) is most of the console's code and only this page's Watch/Play need it: it
// loads on first use, which keeps the console's first load small.
const TerminalPlayer = lazy(() => import('../components/terminal-player.js').then((m) => ({ default: m.TerminalPlayer })));

const field = <T,>(key: string, make: (j: unknown) => T) => (json: unknown): T[] => (((json as Record<string, unknown>)?.[key] as unknown[]) ?? []).map(make);

/** Front-ends whose sessions are terminals, recorded and watchable; the database sessions have statement timelines. */
const TERMINAL_PROTOCOLS = new Set(['ssh', 'exec']);

/** What the player shows: a recording, or a live session. */
interface Viewing {
  id: string;
  live: boolean;
  title: string;
}

const recordedIds = (json: unknown): Set<string> => new Set((((json as Record<string, unknown>)?.recordings as { session_id?: unknown }[]) ?? []).map((r) => String(r.session_id)));

export function Sessions() {
  const viewer = useViewer();
  // Statement counts move without events; a short poll keeps "statements so far" current while the page is open.
  const live = useLoad((signal) => getJson(api.sessions(), field('sessions', makeLiveSession), { signal }), [], { live: ['session', 'grant', 'lock'], pollMs: 2000 });
  const history = useLoad((signal) => getJson(api.sessionHistory({ limit: 100 }), field('sessions', makeSessionSummary), { signal }), [], { live: ['session'] });
  const recorded = useLoad((signal) => getJson(api.recordings({ limit: 1000 }), recordedIds, { signal }), [], { live: ['session'] });
  const [viewing, setViewing] = useState<Viewing | null>(null);
  const now = useNow(1000);
  const ended = history.data?.filter((s) => !s.live && s.endedAt) ?? [];
  const show = (v: Viewing) => {
    setViewing(v);
    window.scrollTo({ top: 0 });
  };
  return (
    <div className="page">
      <h1>Sessions</h1>
      <p className="muted">{viewer.seesAll ? 'Everyone’s sessions through the gateway.' : 'Your sessions through the gateway.'}</p>
      {viewing && (
        <Section
          title={viewing.title}
          actions={
            <button type="button" className="small" onClick={() => setViewing(null)}>
              Close
            </button>
          }
        >
          <Suspense fallback={<Loading what="the player" />}>
            <TerminalPlayer key={`${viewing.id}/${viewing.live}`} url={viewing.live ? api.liveTerminal(viewing.id) : api.recording(viewing.id)} live={viewing.live} label={viewing.title} />
          </Suspense>
        </Section>
      )}
      <Section title="Live sessions" count={live.data?.length}>
        <Loaded {...live} what="live sessions">
          {(ss) => (ss.length === 0 ? <Empty>No live sessions. They appear here the moment someone connects.</Empty> : <LiveTable sessions={ss} now={now} canKill={viewer.me.admin} onKilled={live.reload} onWatch={(s) => show({ id: s.id, live: true, title: `Watching ${s.principal} on ${s.resource} (live)` })} />)}
        </Loaded>
      </Section>
      <Section title="Ended sessions (last 7 days)" count={history.data ? ended.length : undefined}>
        <Loaded data={history.data && ended} error={history.error} loading={history.loading} reload={history.reload} what="ended sessions">
          {(ss) => (ss.length === 0 ? <Empty>No ended sessions in the last 7 days.</Empty> : <EndedTable sessions={ss} now={now} recorded={recorded.data} onPlay={(s) => show({ id: s.id, live: false, title: `Recording of ${s.principal} on ${s.resource ?? '–'}` })} />)}
        </Loaded>
      </Section>
    </div>
  );
}

function LiveTable(props: { sessions: LiveSession[]; now: Date; canKill: boolean; onKilled: () => void; onWatch: (s: LiveSession) => void }) {
  return (
    <DataTable columns={['Principal', 'Resource', 'Since', 'Statements', 'From', { hidden: 'Actions' }]}>
      {props.sessions.map((s) => (
        <LiveRow key={s.id} s={s} now={props.now} canKill={props.canKill} onKilled={props.onKilled} onWatch={props.onWatch} />
      ))}
    </DataTable>
  );
}

function LiveRow(props: { s: LiveSession; now: Date; canKill: boolean; onKilled: () => void; onWatch: (s: LiveSession) => void }) {
  const { s } = props;
  const [confirming, setConfirming] = useState(false);
  const [why, setWhy] = useState('');
  const kill = useAction(async () => {
    await postJson(api.kill(s.id), { reason: why.trim() }, (j) => j);
    props.onKilled();
  });
  return (
    <tr data-testid="live-session" data-session-id={s.id}>
      <td data-label="Principal">
        <strong>{s.principal}</strong>
      </td>
      <td data-label="Resource">
        <span className="name">{s.resource}</span> <span className="muted small">as {s.role}</span>
      </td>
      <td data-label="Since" className="nowrap" data-testid="since">
        <time dateTime={s.startedAt.toISOString()} title={formatTime(s.startedAt)}>
          {formatClock(s.startedAt)}
        </time>{' '}
        <span className="muted small">· for {formatDuration(Math.max(0, (props.now.getTime() - s.startedAt.getTime()) / 1000))}</span>
      </td>
      <td data-label="Statements">
        <span data-testid="statement-count">{s.statements + s.running}</span>
        {s.running > 0 && <span className="muted small"> ({s.running} running)</span>}
      </td>
      <td data-label="From" className="small">
        {s.source ?? '–'}
      </td>
      <td>
        <div className="cell-actions">
          {TERMINAL_PROTOCOLS.has(s.protocol) ? (
            <button type="button" className="small" onClick={() => props.onWatch(s)} aria-label={`Watch ${s.principal}'s session on ${s.resource}`}>
              Watch
            </button>
          ) : (
            <Link to={page.session(s.id)} className="small">
              Statements
            </Link>
          )}
          {props.canKill &&
            (confirming ? (
              <form
                className="inline-form"
                onSubmit={(e) => {
                  e.preventDefault();
                  void kill.run();
                }}
              >
                <Field label="Why (the user sees it)">{(f) => <input id={f.id} value={why} onChange={(e) => setWhy(e.target.value)} autoFocus maxLength={2000} />}</Field>
                <div className="actions">
                  <button type="submit" className="danger" disabled={kill.busy}>
                    {kill.busy ? 'Ending…' : 'End session'}
                  </button>
                  <button type="button" onClick={() => setConfirming(false)}>
                    Keep
                  </button>
                </div>
                {kill.error !== undefined && <ErrorNote error={kill.error} />}
              </form>
            ) : (
              <button type="button" className="danger-outline small" onClick={() => setConfirming(true)} aria-label={`Kill ${s.principal}'s session on ${s.resource}`}>
                Kill…
              </button>
            ))}
        </div>
      </td>
    </tr>
  );
}

function EndedTable(props: { sessions: SessionSummary[]; now: Date; recorded: Set<string> | undefined; onPlay: (s: SessionSummary) => void }) {
  return (
    <DataTable columns={['Principal', 'Resource', 'Started', 'Lasted', 'Statements', 'How it ended', { hidden: 'Actions' }]}>
      {props.sessions.map((s) => (
        <tr key={s.id} data-testid="ended-session" data-session-id={s.id}>
          <td data-label="Principal">
            <strong>{s.principal}</strong>
          </td>
          <td data-label="Resource">
            <Link to={page.session(s.id)} className="name">{s.resource}</Link> {s.role && <span className="muted small">as {s.role}</span>}
          </td>
          <td data-label="Started">
            <Time date={s.startedAt} now={props.now} />
          </td>
          <td data-label="Lasted">{s.durationMs !== null ? formatDuration(Math.max(1, Math.round(s.durationMs / 1000))) : '–'}</td>
          <td data-label="Statements">{s.statements ?? '–'}</td>
          <td data-label="How it ended" className="small">
            {s.killedBy && <Badge tone="bad">killed by {s.killedBy}</Badge>} {s.endReason ?? '–'}
          </td>
          <td>
            {props.recorded?.has(s.id) && (
              <button type="button" className="small" onClick={() => props.onPlay(s)} aria-label={`Play the recording of ${s.principal}'s session on ${s.resource ?? '–'}`}>
                Play
              </button>
            )}
          </td>
        </tr>
      ))}
    </DataTable>
  );
}

export function SessionTimeline(props: { id: string }) {
  const data = useLoad(
    (signal) =>
      getJson(
        api.statements(props.id),
        (j) => {
          const o = (j ?? {}) as { session?: unknown; statements?: unknown[]; truncated?: boolean };
          return { session: makeSessionSummary(o.session), statements: (o.statements ?? []).map(makeStatement), truncated: o.truncated === true };
        },
        { signal },
      ),
    [props.id],
    { live: ['session'] },
  );
  const now = useNow(5000);
  return (
    <div className="page">
      <p className="crumbs">
        <Link to={page.sessions()}>Sessions</Link> / timeline
      </p>
      <Loaded {...data} what="the session">
        {({ session: s, statements, truncated }) => (
          <>
            <h1>
              {s.principal} on {s.resource} {s.live ? <Badge tone="good">live</Badge> : <Badge>ended</Badge>}
            </h1>
            <Section title="Session">
              <dl className="facts">
                <dt>Role</dt>
                <dd>{s.role ?? '–'}</dd>
                <dt>Grant</dt>
                <dd>
                  <code>{s.grantId ?? '–'}</code>
                </dd>
                <dt>From</dt>
                <dd>{s.source ?? '–'}</dd>
                <dt>Started</dt>
                <dd>
                  <Time date={s.startedAt} now={now} />
                </dd>
                {s.endedAt && (
                  <>
                    <dt>Ended</dt>
                    <dd>
                      <Time date={s.endedAt} now={now} /> {s.durationMs !== null && <span className="muted">after {formatDuration(Math.max(1, Math.round(s.durationMs / 1000)))}</span>}
                    </dd>
                    <dt>Why</dt>
                    <dd>
                      {s.killedBy && <Badge tone="bad">killed by {s.killedBy}</Badge>} {s.endReason ?? '–'}
                    </dd>
                  </>
                )}
              </dl>
            </Section>
            <Section title="Statements" count={statements.length}>
              {statements.length === 0 ? (
                <Empty>No statements{s.live ? ' yet' : ''}.</Empty>
              ) : (
                <DataTable columns={['Time', 'Statement', 'Decision', 'Rows', 'Duration', 'Error']} className="statements">
                  {statements.map((st) => (
                    <tr key={st.seq} data-testid="statement">
                      <td data-label="Time" className="small nowrap" title={formatTime(st.time)}>
                        {formatTime(st.time).split(' ')[1]}
                      </td>
                      <td data-label="Statement">
                        <code className="sql">{st.text}</code>
                      </td>
                      <td data-label="Decision">
                        <StatusBadge status={st.decision} />
                        {st.rule && <div className="small muted">{st.rule}</div>}
                      </td>
                      <td data-label="Rows">{st.rows ?? '–'}</td>
                      <td data-label="Duration" className="nowrap">
                        {formatMs(st.durationMs)}
                      </td>
                      <td data-label="Error" className="small">
                        {st.error ?? ''}
                      </td>
                    </tr>
                  ))}
                </DataTable>
              )}
              {truncated && <p className="hint">Only the first statements are shown; export the audit log for all of them.</p>}
            </Section>
          </>
        )}
      </Loaded>
    </div>
  );
}
