// One request: what was asked, its reviews, where it stands (live), and the decision for approvers who may take it.
import { getJson, postJson } from '../api/client.js';
import { makeRequest } from '../api/models.js';
import { api, page } from '../api/urls.js';
import { Badge, Empty, ErrorNote, Link, Loaded, Section, StatusBadge, Time, useAction } from '../components/ui.js';
import { useLoad, useNow } from '../lib/hooks.js';
import { riskHints } from '../lib/risk.js';
import { formatDuration } from '../lib/time.js';
import { useViewer } from '../viewer.js';
import { DecisionForm, PrincipalName, RiskHints } from './decide.js';
import { useRiskFacts } from './reviews.js';

export function RequestPage(props: { id: string }) {
  const { me } = useViewer();
  const req = useLoad((signal) => getJson(api.request(props.id), makeRequest, { signal }), [props.id], { live: ['request'] });
  const facts = useRiskFacts();
  const now = useNow(5000);
  const cancel = useAction(() => postJson(api.cancel(props.id), {}, makeRequest).then(req.reload));
  return (
    <div className="page">
      <p className="crumbs">
        <Link to={me.approverOf.length ? page.reviews() : page.myAccess()}>{me.approverOf.length ? 'Reviews' : 'My access'}</Link> / request
      </p>
      <Loaded {...req} what="the request">
        {(r) => {
          const approver = me.approverOf.includes(r.role);
          const own = r.principal === me.name;
          const decidable = approver && (r.status === 'pending' || (r.status === 'approved' && r.breakGlass));
          return (
            <>
              <h1>
                {r.role} on {r.resource} <StatusBadge status={r.status} />
              </h1>
              <Section title="What was asked">
                <dl className="facts">
                  <dt>Requester</dt>
                  <dd>
                    <PrincipalName name={r.principal} kind={r.principalKind} sponsor={r.sponsor} />
                  </dd>
                  <dt>Role and resource</dt>
                  <dd>
                    {r.role} on {r.resource}
                  </dd>
                  <dt>For</dt>
                  <dd>{formatDuration(r.durationSeconds)}</dd>
                  <dt>Reason</dt>
                  <dd>{r.reason || <span className="muted">none</span>}</dd>
                  <dt>Ticket</dt>
                  <dd>{r.ticket ?? <span className="muted">none</span>}</dd>
                  <dt>Asked</dt>
                  <dd>
                    <Time date={r.createdAt} now={now} />
                  </dd>
                  {r.status === 'pending' && (
                    <>
                      <dt>Times out</dt>
                      <dd>
                        <Time date={r.timeoutAt} now={now} />
                      </dd>
                    </>
                  )}
                  {r.decidedAt && (
                    <>
                      <dt>Decided</dt>
                      <dd>
                        <Time date={r.decidedAt} now={now} /> by {r.decidedBy}
                      </dd>
                    </>
                  )}
                  {r.grantId && (
                    <>
                      <dt>Grant</dt>
                      <dd>
                        <code>{r.grantId}</code>
                      </dd>
                    </>
                  )}
                  {r.extendsGrantId && (
                    <>
                      <dt>Extends</dt>
                      <dd>
                        <code>{r.extendsGrantId}</code>
                      </dd>
                    </>
                  )}
                  <dt>Risk</dt>
                  <dd>
                    <RiskHints hints={riskHints(facts(r))} />
                  </dd>
                </dl>
              </Section>
              <Section title="Reviews" count={r.reviews.length}>
                {r.reviews.length === 0 ? (
                  <Empty>No reviews yet.</Empty>
                ) : (
                  <ul className="rows">
                    {r.reviews.map((v) => (
                      <li key={v.id} className="row-item">
                        <div className="row-main">
                          <Badge tone={v.decision === 'approve' ? 'good' : 'bad'}>{v.decision === 'approve' ? 'approved' : 'denied'}</Badge> by <strong>{v.reviewer}</strong> <Time date={v.createdAt} now={now} relativeOnly />
                          {v.postHoc && <Badge tone="info">after the fact</Badge>}
                        </div>
                        {v.comment && <div className="row-sub">“{v.comment}”</div>}
                      </li>
                    ))}
                  </ul>
                )}
              </Section>
              {decidable && (
                <Section title="Your decision">
                  {own && <p className="hint">This is your own request.</p>}
                  <DecisionForm request={r} onDecided={() => req.reload()} />
                </Section>
              )}
              {own && r.status === 'pending' && (
                <div className="actions">
                  <button type="button" onClick={() => void cancel.run()} disabled={cancel.busy}>
                    Cancel this request
                  </button>
                  {cancel.error !== undefined && <ErrorNote error={cancel.error} />}
                </div>
              )}
            </>
          );
        }}
      </Loaded>
    </div>
  );
}
