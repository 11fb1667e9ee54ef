// My access: active grants with a live countdown and how to connect; the request form; my requests, live; and
// the resources and roles I may request with their limits.
import { useEffect, useState } from 'react';
import { getJson, postJson } from '../api/client.js';
import { makeGateways, makeGrant, makeRequest, makeResource, type AccessRequest, type Gateways, type Grant, type Resource } from '../api/models.js';
import { api, page } from '../api/urls.js';
import { Badge, CopyLine, Countdown, DataTable, Empty, ErrorNote, Field, Link, Loaded, Section, StatusBadge, Time, useAction } from '../components/ui.js';
import { useLoad, useNow } from '../lib/hooks.js';
import { CA_FILE, clientLine } from '../lib/connect.js';
import { formatDuration } from '../lib/time.js';
import { useViewer } from '../viewer.js';
import { RequestForm, type FormPreset } from './request-form.js';
import { QueryRunner } from './query-runner.js';

const list = <T,>(key: string, make: (j: unknown) => T) => (json: unknown): T[] => (((json as Record<string, unknown>)?.[key] as unknown[]) ?? []).map(make);

export function MyAccess() {
  const { me } = useViewer();
  const resources = useLoad((signal) => getJson(api.resources(), list('resources', makeResource), { signal }), [], { live: ['policy'] });
  const grants = useLoad((signal) => getJson(api.grants({ active: true, principal: me.name }), list('grants', makeGrant), { signal }), [me.name], { live: ['grant', 'lock'] });
  const requests = useLoad((signal) => getJson(api.requests('mine'), list('requests', makeRequest), { signal }), [], { live: ['request', 'grant'] });
  const gateway = useLoad((signal) => getJson(api.gateways(), makeGateways, { signal }), []);
  const [preset, setPreset] = useState<FormPreset | null>(null);
  const [sent, setSent] = useState<AccessRequest | null>(null);
  const now = useNow(1000);

  // A grant whose end has passed is expired on the server within a second; look again then (in case no event came).
  const nextEnd = grants.data?.map((g) => g.expiresAt.getTime()).filter((t) => t > Date.now()).sort((a, b) => a - b)[0];
  const { reload: reloadGrants } = grants;
  useEffect(() => {
    if (nextEnd === undefined) return;
    const t = setTimeout(reloadGrants, nextEnd - Date.now() + 1500);
    return () => clearTimeout(t);
  }, [nextEnd, reloadGrants]);

  const choose = (resource: string, role: string, extendsGrant?: Grant) => {
    setPreset({ resource, role, extendsGrant, key: Date.now() });
    setSent(null);
    document.getElementById('request-access')?.scrollIntoView({ behavior: 'smooth', block: 'start' });
  };

  return (
    <div className="page">
      <h1>My access</h1>
      <Section title="Active grants" count={grants.data?.length}>
        <Loaded {...grants} what="your grants">
          {(gs) =>
            gs.length === 0 ? (
              <Empty>You hold no access right now. Request some below; it ends by itself when its time is up.</Empty>
            ) : (
              <ul className="cards" aria-label="Active grants">
                {gs.map((g) => (
                  <GrantCard key={g.id} grant={g} now={now} gateway={gateway.data ?? null} kind={resources.data?.find((r) => r.name === g.resource)?.kind} onExtend={() => choose(g.resource, g.role, g)} />
                ))}
              </ul>
            )
          }
        </Loaded>
      </Section>

      <div className="columns">
        <Section title={preset?.extendsGrant ? 'Extend a grant' : 'Request access'} id="request-access">
          {sent && <SentNotice sent={requests.data?.find((r) => r.id === sent.id) ?? sent} />}
          <Loaded {...resources} what="what you may request">
            {(rs) => <RequestForm resources={rs} preset={preset} onClearExtend={() => setPreset(null)} onSent={(r) => {
              setSent(r);
              requests.reload();
              grants.reload();
            }} />}
          </Loaded>
        </Section>
        <Section title="My requests" count={requests.data?.length}>
          <Loaded {...requests} what="your requests">
            {(rs) => (rs.length === 0 ? <Empty>You have not asked for anything yet.</Empty> : <RequestList requests={rs} now={now} />)}
          </Loaded>
        </Section>
      </div>

      <Section title="What you may request">
        <Loaded {...resources} what="resources">
          {(rs) => <Offers resources={rs} onChoose={choose} />}
        </Loaded>
      </Section>
    </div>
  );
}

/** What became of the request just sent, kept current by the live list. */
function SentNotice(props: { sent: AccessRequest }) {
  const r = props.sent;
  const what = `${r.role} on ${r.resource}`;
  let text;
  if (r.status === 'pending') {
    text = (
      <>
        Request <Link to={page.request(r.id)}>{r.id}</Link> sent; it waits for review. This page changes as soon as someone decides.
      </>
    );
  } else if (r.status === 'approved') {
    const how = r.breakGlass ? ' at once (break-glass: reviewers were alerted)' : r.autoApprovedBy ? ' at once by an auto-approve rule' : r.decidedBy ? ` by ${r.decidedBy}` : '';
    text = <>Approved{how}: {what} is yours now — see Active grants.</>;
  } else {
    text = (
      <>
        Your request for {what} was {r.status.replace('_', ' ')}
        {r.decidedBy && r.status === 'denied' ? ` by ${r.decidedBy}` : ''}. <Link to={page.request(r.id)}>Details</Link>
      </>
    );
  }
  return (
    <p className={`notice${r.status === 'denied' ? ' bad' : ''}`} role="status" data-testid="sent-notice">
      {text}
    </p>
  );
}

function GrantCard(props: { grant: Grant; now: Date; gateway: Gateways | null; kind: string | undefined; onExtend: () => void }) {
  const { grant: g } = props;
  const { me } = useViewer();
  const [revoking, setRevoking] = useState(false);
  const [querying, setQuerying] = useState(false);
  const [why, setWhy] = useState('');
  // The query runner goes through this server's PostgreSQL gateway (MySQL resources: the mariadb line for now).
  const runnable = props.kind === 'postgres' && props.gateway?.postgres != null;
  const runnerId = `runner-${g.id}`;
  const revoke = useAction(() => postJson(api.revoke(g.id), { reason: why.trim() || 'done' }, makeGrant));
  const conn = props.gateway ? clientLine(props.gateway, props.kind, me.name, g.resource) : null;
  return (
    <li className="card grant" data-testid="grant" data-grant-id={g.id}>
      <div className="card-head">
        <div>
          <strong className="title">{g.resource}</strong> <span className="muted">as</span> <strong>{g.role}</strong>
          {g.breakGlass && (
            <>
              {' '}
              <Badge tone="bad">break-glass</Badge>
            </>
          )}
        </div>
        <Countdown until={g.expiresAt} now={props.now} />
      </div>
      <p className="muted small">
        Since <Time date={g.startsAt} now={props.now} relativeOnly />, ends <Time date={g.expiresAt} now={props.now} />
      </p>
      {conn ? (
        <div className="connect">
          <CopyLine label={conn.client} text={conn.line} testId={conn.testId} />
          <CopyLine label="Airlock CLI" text={conn.command} testId="connect-command" />
          <p className="hint">
            {conn.client === 'mariadb' ? (
              <>
                The password is one of your Airlock access tokens (the CLI makes one that lasts as long as this grant); put it in the <code>MYSQL_PWD</code> environment variable, never on the command line. The same line works with <code>mysql</code> from MariaDB; Oracle MySQL 8 takes <code>--ssl-mode=VERIFY_IDENTITY</code> instead of <code>--ssl-verify-server-cert</code>.{' '}
              </>
            ) : (
              'The password is one of your Airlock access tokens (the CLI makes one that lasts as long as this grant). '
            )}
            Save the gateway's CA certificate next to where you run {conn.client}:{' '}
            <a href={api.gatewayCa()} download={CA_FILE}>
              download {CA_FILE}
            </a>
            .
          </p>
        </div>
      ) : (
        <p className="hint">Connect through the Airlock gateway for {props.kind ?? 'this'} resources; this server runs no such gateway.</p>
      )}
      {revoking ? (
        <form
          className="inline-form"
          onSubmit={(e) => {
            e.preventDefault();
            void revoke.run();
          }}
        >
          <Field label="Why end it now? (optional)">{(f) => <input id={f.id} value={why} onChange={(e) => setWhy(e.target.value)} autoFocus maxLength={2000} />}</Field>
          <div className="actions">
            <button type="submit" className="danger" disabled={revoke.busy}>
              {revoke.busy ? 'Revoking…' : 'Revoke now'}
            </button>
            <button type="button" onClick={() => setRevoking(false)}>
              Keep it
            </button>
          </div>
          {revoke.error !== undefined && <ErrorNote error={revoke.error} />}
        </form>
      ) : (
        <div className="actions">
          {runnable && (
            <button type="button" aria-expanded={querying} aria-controls={runnerId} onClick={() => setQuerying(!querying)} aria-label={`Query ${g.resource}`}>
              Query
            </button>
          )}
          <button type="button" onClick={props.onExtend}>
            Extend…
          </button>
          <button type="button" className="danger-outline" onClick={() => setRevoking(true)}>
            Revoke…
          </button>
        </div>
      )}
      {runnable && querying && (
        <div id={runnerId}>
          <QueryRunner grant={g} />
        </div>
      )}
    </li>
  );
}

function RequestList(props: { requests: AccessRequest[]; now: Date }) {
  const [showAll, setShowAll] = useState(false);
  const shown = showAll ? props.requests : props.requests.slice(0, 8);
  return (
    <>
      <ul className="rows" aria-label="My requests">
        {shown.map((r) => (
          <MyRequestRow key={r.id} r={r} now={props.now} />
        ))}
      </ul>
      {props.requests.length > shown.length && (
        <button type="button" className="link" onClick={() => setShowAll(true)}>
          Show all {props.requests.length}
        </button>
      )}
    </>
  );
}

function MyRequestRow(props: { r: AccessRequest; now: Date }) {
  const { r } = props;
  const cancel = useAction(() => postJson(api.cancel(r.id), {}, makeRequest));
  return (
    <li className="row-item" data-testid="my-request" data-request-id={r.id}>
      <div className="row-main">
        <StatusBadge status={r.status} />{' '}
        <Link to={page.request(r.id)}>
          {r.role} on {r.resource}
        </Link>{' '}
        <span className="muted">for {formatDuration(r.durationSeconds)}</span>
        {r.extendsGrantId && <Badge tone="info">extension</Badge>}
        {r.breakGlass && <Badge tone="bad">break-glass</Badge>}
      </div>
      <div className="row-sub muted small">
        <span>{r.reason || 'no reason given'}</span> · asked <Time date={r.createdAt} now={props.now} relativeOnly />
        {r.status === 'pending' && (
          <>
            {' '}
            · times out <Time date={r.timeoutAt} now={props.now} relativeOnly />
          </>
        )}
        {r.decidedBy && r.status !== 'pending' && <> · by {r.decidedBy.startsWith('rule:') ? 'a rule' : r.decidedBy}</>}
      </div>
      {r.status === 'pending' && (
        <div className="row-actions">
          <button type="button" className="small" onClick={() => void cancel.run()} disabled={cancel.busy}>
            Cancel request
          </button>
          {cancel.error !== undefined && <ErrorNote error={cancel.error} />}
        </div>
      )}
    </li>
  );
}

function Offers(props: { resources: Resource[]; onChoose: (resource: string, role: string) => void }) {
  const offered = props.resources.filter((r) => r.roles.length > 0);
  if (offered.length === 0) return <Empty>No role lets you request any resource.</Empty>;
  return (
    <DataTable columns={['Resource', 'Role', 'Access', 'Up to', 'Approval', 'Reason', { hidden: 'Action' }]}>
      {offered.flatMap((r) =>
        r.roles.map((o) => (
          <tr key={`${r.name}/${o.role}`}>
            <td data-label="Resource">
              <strong className="name">{r.name}</strong> <span className="muted small">{r.kind}</span>
              <div className="labels">
                {Object.entries(r.labels).map(([k, v]) => (
                  <Badge key={k} tone={k === 'env' && /^prod/i.test(v) ? 'warn' : 'neutral'}>
                    {k}={v}
                  </Badge>
                ))}
              </div>
            </td>
            <td data-label="Role" className="name">{o.role}</td>
            <td data-label="Access">{o.readOnly ? 'read-only' : <Badge tone="warn">write</Badge>}</td>
            <td data-label="Up to">{o.maxDuration}</td>
            <td data-label="Approval">
              {o.approvals} of {o.approvers.join(', ') || 'nobody'}
              {o.autoApprove.length > 0 && <div className="small muted">auto-approved: {o.autoApprove.map((a) => [a.maxDuration && `up to ${a.maxDuration}`, a.timeWindow].filter(Boolean).join(', ') || 'always').join('; ')}</div>}
              {o.breakGlass && <div className="small muted">break-glass allowed</div>}
            </td>
            <td data-label="Reason" className="small">
              {o.justification.hint ?? (o.justification.required ? 'required' : 'optional')}
              {o.justification.ticketRequired && ' · ticket required'}
            </td>
            <td>
              <button type="button" className="small" onClick={() => props.onChoose(r.name, o.role)} aria-label={`Request ${o.role} on ${r.name}`}>
                Request…
              </button>
            </td>
          </tr>
        )),
      )}
    </DataTable>
  );
}
