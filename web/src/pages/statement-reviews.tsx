// Statement reviews on the Reviews page: statements a gateway holds until a person approves that exact text, live,
// with the decision for those who may take it, and the ones decided lately with what became of them.
import { useEffect, useId, useRef, useState, type ReactNode } from 'react';
import { errorCode, errorText, getJson, postJson } from '../api/client.js';
import { subscribeLive } from '../api/live.js';
import { makeStatementReview, type StatementReview, type StatementReviewStatus } from '../api/models.js';
import { api } from '../api/urls.js';
import { Badge, Countdown, Empty, Loaded, Section, Time, useAction, type Tone } from '../components/ui.js';
import { useLoad, useNow } from '../lib/hooks.js';
import { gist, sentenceGist, mayDecide, noWhereWarning, outcome, waitingWhy } from '../lib/statement-review-rules.js';
import { zoneName } from '../lib/time.js';
import { useViewer } from '../viewer.js';
import { PrincipalName } from './decide.js';

const reviewsOf = (json: unknown) => (((json as { reviews?: unknown[] })?.reviews) ?? []).map(makeStatementReview);

/** How many decided ones the page lists. */
const RECENT = 10;

/** The held statements the viewer may see that wait for a decision (their own, those they review, or all for admins). */
export function useHeldStatements() {
  return useLoad((signal) => getJson(api.statementReviews({ status: 'pending', limit: 200 }), reviewsOf, { signal }), [], { live: ['statement_review'] });
}

/** An API error with its stable code (AIRLOCK_SELF_REVIEW, …), which a user can look up in the docs. */
function CodedError(props: { error: unknown }) {
  const code = errorCode(props.error);
  return (
    <div className="state error" role="alert">
      {code && <code className="error-code">{code}</code>}
      <span>{errorText(props.error)}</span>
    </div>
  );
}

/** The exact text, scrollable by keyboard when it is long, and its bound parameters. */
function StatementText(props: { review: StatementReview; compact?: boolean }) {
  const { review: r } = props;
  return (
    <>
      <div className={`statement-wrap${props.compact ? ' compact' : ''}`} role="region" aria-label={`Statement ${r.id}`} tabIndex={0}>
        <pre className="statement" data-testid="statement">
          {r.statement}
        </pre>
      </div>
      {r.parameters && r.parameters.length > 0 && (
        <ol className="params" aria-label="Bound parameters" data-testid="parameters">
          {r.parameters.map((p, i) => (
            <li key={i}>
              <code>${i + 1}</code> = {p === null ? <em>NULL</em> : <code className="param">{p}</code>}
            </li>
          ))}
        </ol>
      )}
    </>
  );
}

/** What the parser saw: kinds, tables, whether UPDATE/DELETE have a WHERE — with a warning when one does not. */
function SummaryLine(props: { review: StatementReview }) {
  const s = props.review.summary;
  const warning = noWhereWarning(props.review);
  return (
    <div className="statement-summary" data-testid="statement-summary">
      <p className="small">
        <span className="muted">Kind</span> <strong>{s.kinds.length ? s.kinds.map((k) => k.toUpperCase()).join(', ') : 'unknown'}</strong> · <span className="muted">Tables</span>{' '}
        <strong>{s.tables.length ? s.tables.join(', ') : 'none named'}</strong>
        {s.hasWhere !== null && (
          <>
            {' '}
            · <span className="muted">WHERE</span> <strong>{s.hasWhere ? 'yes' : 'no'}</strong>
          </>
        )}{' '}
        · {s.writes ? <Badge tone="warn">may write</Badge> : <Badge tone="good">reads only</Badge>}
      </p>
      {warning && (
        <p className="notice bad small" data-testid="no-where">
          <strong>No WHERE:</strong> {warning}.
        </p>
      )}
    </div>
  );
}

function Approvals(props: { review: StatementReview; now: Date }) {
  const r = props.review;
  // approvals_needed is how many the rule asks for in all; the ones given count towards it.
  const needed = Math.max(r.approvalsNeeded, r.approvals.length);
  return (
    <div className="small">
      <span data-testid="approvals">
        {r.approvals.length} of {needed} approval{needed === 1 ? '' : 's'}
      </span>
      {r.approverGroups.length + r.approverPrincipals.length > 0 && <span className="muted"> · reviewers: {[...r.approverGroups.map((g) => `group ${g}`), ...r.approverPrincipals].join(', ')}</span>}
      {r.approvals.length > 0 && (
        <ul className="rows">
          {r.approvals.map((a) => (
            <li key={a.reviewer} className="row-sub">
              <Badge tone="good">approved</Badge> by <strong>{a.reviewer}</strong> <Time date={a.at} now={props.now} relativeOnly />
              {a.comment && <> · “{a.comment}”</>}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

interface Decision {
  review: StatementReview;
  decision: 'approve' | 'deny';
}

function StatementDecision(props: { review: StatementReview; onDeciding: (id: string) => void; onFailed: (id: string) => void; onDecided: (d: Decision) => void }) {
  const { review: r } = props;
  const [comment, setComment] = useState('');
  const id = useId();
  const decide = useAction(async (decision: 'approve' | 'deny') => {
    props.onDeciding(r.id);
    let out: StatementReview;
    try {
      out = await postJson(decision === 'approve' ? api.approveStatement(r.id) : api.denyStatement(r.id), { comment: comment.trim() || undefined }, makeStatementReview);
    } catch (e) {
      props.onFailed(r.id);
      throw e;
    }
    props.onDecided({ review: out, decision });
  });
  const canDeny = comment.trim() !== '';
  return (
    <div className="decision">
      <label htmlFor={id}>Comment (optional to approve, needed to deny)</label>
      <textarea id={id} rows={2} value={comment} maxLength={2000} onChange={(e) => setComment(e.target.value)} aria-describedby={canDeny ? undefined : `${id}-hint`} />
      {!canDeny && (
        <p className="hint" id={`${id}-hint`}>
          Deny needs a comment: {r.principal} reads it as the error their client gets.
        </p>
      )}
      <div className="actions">
        <button type="button" className="primary" onClick={() => void decide.run('approve')} disabled={decide.busy} aria-label={`Approve ${gist(r)}`}>
          Approve
        </button>
        <button type="button" className="danger-outline" onClick={() => void decide.run('deny')} disabled={decide.busy || !canDeny} aria-label={`Deny ${gist(r)}`}>
          Deny
        </button>
      </div>
      {decide.error !== undefined && <CodedError error={decide.error} />}
    </div>
  );
}

function HeldCard(props: { review: StatementReview; now: Date; decision: ReactNode }) {
  const { review: r, now } = props;
  return (
    <li className="card review statement-review" data-testid="statement-review" data-review-id={r.id}>
      <div className="card-head">
        <div>
          <PrincipalName name={r.principal} kind={r.principalKind} sponsor={r.sponsor} /> <span className="muted">wants to run on</span> <strong>{r.resource}</strong> <span className="muted">as</span>{' '}
          <strong>{r.role}</strong>
        </div>
        <span className="small muted">{r.id}</span>
      </div>
      <StatementText review={r} />
      <SummaryLine review={r} />
      <dl className="facts small">
        <dt>Grant</dt>
        <dd>
          <code>{r.grantId}</code>
        </dd>
        <dt>Session</dt>
        <dd>{r.sessionId ? <code>{r.sessionId}</code> : <span className="muted">none</span>}</dd>
        {r.database && (
          <>
            <dt>Database</dt>
            <dd>
              <code>{r.database}</code> ({r.protocol})
            </dd>
          </>
        )}
        <dt>Held</dt>
        <dd>
          <Time date={r.createdAt} now={now} />
        </dd>
        <dt>Expires</dt>
        <dd>
          <Time date={r.expiresAt} now={now} /> <Countdown until={r.expiresAt} now={now} />
        </dd>
      </dl>
      <Approvals review={r} now={now} />
      {props.decision}
    </li>
  );
}

const OUTCOME_TONES: Record<StatementReviewStatus, Tone> = { pending: 'info', approved: 'good', executed: 'good', denied: 'bad', timed_out: 'warn', withdrawn: 'neutral' };

function DecidedItem(props: { review: StatementReview; now: Date }) {
  const { review: r, now } = props;
  return (
    <li className="row-item" data-testid="decided-statement" data-review-id={r.id}>
      <div className="row-main">
        <Badge tone={OUTCOME_TONES[r.status]}>
          <span data-testid="status">{r.status.replace('_', ' ')}</span>
        </Badge>
        <PrincipalName name={r.principal} kind={r.principalKind} sponsor={r.sponsor} /> <span className="muted">on</span> <strong>{r.resource}</strong> <span className="muted">as</span> <strong>{r.role}</strong>
        <span className="muted small">{r.id}</span>
      </div>
      <StatementText review={r} compact />
      <div className="row-sub small">
        <span data-testid="outcome">{outcome(r)}</span> · <Time date={r.decidedAt ?? r.executedAt ?? r.createdAt} now={now} />
        {r.executedAt && r.status === 'executed' && (
          <>
            {' '}
            · ran <Time date={r.executedAt} now={now} relativeOnly />
          </>
        )}
        {r.comment && <span data-testid="decision-comment"> · “{r.comment}”</span>}
      </div>
    </li>
  );
}

/** The two sections of the Reviews page for statements; `note` tells the viewer what happened to ones on screen. */
export function StatementReviews(props: { note: (text: string) => void }) {
  const { me } = useViewer();
  const held = useHeldStatements();
  const recent = useLoad((signal) => getJson(api.statementReviews({ limit: 50 }), reviewsOf, { signal }), [], { live: ['statement_review'] });
  const now = useNow(1000);
  // Marked before the decision is sent: the server's event for it can arrive before the answer to the click does.
  const mine = useRef(new Set<string>());
  const shown = useRef(new Map<string, StatementReview>());
  shown.current = new Map((held.data ?? []).map((r) => [r.id, r]));
  const { note } = props;

  // Say so when a statement on screen is decided elsewhere, times out, or is withdrawn (it then leaves the list).
  useEffect(
    () =>
      subscribeLive((c) => {
        if (!c || c.kind !== 'statement_review' || !c.status || c.status === 'pending' || mine.current.has(c.id)) return;
        const r = shown.current.get(c.id);
        if (!r) return;
        if (c.status === 'timed_out') return note(`${sentenceGist(r, me.name)} timed out: nobody decided in time.`);
        if (c.status === 'withdrawn') return note(`${sentenceGist(r, me.name)} was withdrawn: the session ended or the client cancelled it.`);
        if (c.status === 'executed') return;
        const by = c.actor === me.name ? 'by you, in another window' : c.actor ? `by ${c.actor}` : 'elsewhere';
        note(`${sentenceGist(r, me.name)} was ${c.status.replace('_', ' ')} ${by}.`);
      }),
    [me.name, note],
  );

  const onDecided = (d: Decision) => {
    const r = shown.current.get(d.review.id) ?? d.review;
    note(d.decision === 'deny' ? `Denied ${gist(r)}.` : d.review.status === 'pending' ? `Recorded your approval of ${gist(r)}; it needs more approvals.` : `Approved ${gist(r)}: it runs now.`);
    held.reload();
    recent.reload();
  };

  const decided = (recent.data ?? [])
    .filter((r) => r.status !== 'pending')
    .sort((a, b) => (b.decidedAt ?? b.executedAt ?? b.createdAt).getTime() - (a.decidedAt ?? a.executedAt ?? a.createdAt).getTime())
    .slice(0, RECENT);

  return (
    <>
      <Section title="Statements waiting for review" count={held.data?.length}>
        <p className="hint">
          Each statement runs only once approved, exactly as shown. Times are in {zoneName(now)}.
        </p>
        <Loaded {...held} what="held statements">
          {(rs) =>
            rs.length === 0 ? (
              <Empty>No statement waits for review. Statements held by the gateway appear here as they are held.</Empty>
            ) : (
              <ul className="cards" aria-label="Statements waiting for review">
                {rs.map((r) => (
                  <HeldCard
                    key={r.id}
                    review={r}
                    now={now}
                    decision={
                      mayDecide(r, me) ? (
                        <StatementDecision review={r} onDeciding={(id) => mine.current.add(id)} onFailed={(id) => mine.current.delete(id)} onDecided={onDecided} />
                      ) : (
                        <p className="waiting" data-testid="waiting">
                          <Badge tone="info">waiting for a reviewer</Badge>{' '}
                          <span className="muted small">
                            {waitingWhy(r, me)}
                          </span>
                        </p>
                      )
                    }
                  />
                ))}
              </ul>
            )
          }
        </Loaded>
      </Section>
      {decided.length > 0 && (
        <Section title="Recently decided statements">
          <ul className="rows" aria-label="Recently decided statements">
            {decided.map((r) => (
              <DecidedItem key={r.id} review={r} now={now} />
            ))}
          </ul>
        </Section>
      )}
    </>
  );
}
