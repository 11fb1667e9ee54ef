// The loaded policy, read-only, and "explain": why a principal can or cannot get each role on a resource.
import { useState } from 'react';
import { getJson } from '../api/client.js';
import { makeExplanation, type PolicyView } from '../api/models.js';
import { api } from '../api/urls.js';
import { Badge, DataTable, Empty, Field, Loaded, Section } from '../components/ui.js';
import { useLoad } from '../lib/hooks.js';

export function Explain(props: { policy: PolicyView | undefined }) {
  const [principal, setPrincipal] = useState('');
  const [resource, setResource] = useState('');
  const [asked, setAsked] = useState<{ principal: string; resource: string } | null>(null);
  const result = useLoad((signal) => (asked ? getJson(api.explain(asked.principal, asked.resource || undefined), makeExplanation, { signal }) : Promise.resolve(null)), [asked?.principal, asked?.resource], { live: ['policy'] });
  const principals = props.policy?.principals ?? [];
  const resources = props.policy?.resources ?? [];
  const who = principal || principals[0]?.name || '';
  return (
    <Section title="Explain">
      <p className="muted small">Why can or can’t a principal get a role on a resource? Every role is checked against the loaded policy, and each refusal names its rule.</p>
      <form
        className="row"
        onSubmit={(e) => {
          e.preventDefault();
          setAsked({ principal: who, resource });
        }}
        aria-label="Explain the policy"
      >
        <Field label="Principal">
          {(f) => (
            <select id={f.id} value={who} onChange={(e) => setPrincipal(e.target.value)}>
              {principals.map((p) => (
                <option key={p.name}>{p.name}</option>
              ))}
            </select>
          )}
        </Field>
        <Field label="Resource">
          {(f) => (
            <select id={f.id} value={resource} onChange={(e) => setResource(e.target.value)}>
              <option value="">(every resource)</option>
              {resources.map((r) => (
                <option key={r.name}>{r.name}</option>
              ))}
            </select>
          )}
        </Field>
        <div className="actions end">
          <button type="submit" className="primary" disabled={!who}>
            Explain
          </button>
        </div>
      </form>
      {asked && (
        <Loaded {...result} what="the explanation">
          {(x) =>
            !x || x.entries.length === 0 ? (
              <Empty>No role covers {asked.resource || 'any resource'} for {asked.principal}.</Empty>
            ) : (
              <ul className="rows" aria-label="Explanation" data-testid="explain">
                {x.entries.map((e) => (
                  <li key={`${e.resource}/${e.role}`} className="row-item">
                    <div className="row-main">
                      {e.allowed ? <Badge tone="good">can request</Badge> : <Badge tone="bad">cannot</Badge>} <strong>{e.role}</strong> on <strong>{e.resource}</strong>
                    </div>
                    <div className="row-sub small">
                      {e.allowed ? (
                        <>
                          up to {e.maxDuration} · {e.readOnly ? 'read-only' : 'can write'} · {e.approvals} approval(s) from {e.approvers.join(', ') || 'nobody'}
                          {e.breakGlass && ' · break-glass allowed'}
                          {e.justificationHint && <> · reason: {e.justificationHint}</>}
                        </>
                      ) : (
                        <ul className="refusals">
                          {e.refusals.map((r) => (
                            <li key={r.rule}>
                              {r.message} <code className="muted">{r.rule}</code>
                            </li>
                          ))}
                        </ul>
                      )}
                    </div>
                  </li>
                ))}
              </ul>
            )
          }
        </Loaded>
      )}
    </Section>
  );
}

const subjects = (s: { groups: string[]; principals: string[] }) => [...s.groups.map((g) => `group ${g}`), ...s.principals].join(', ') || 'nobody';

export function PolicyRender(props: { policy: PolicyView }) {
  const p = props.policy;
  return (
    <div className="policy">
      <p className="muted small">
        <code>{p.file}</code> · hash <code>{p.hash.slice(0, 12)}</code> · read-only here: edit the file, and Airlock reloads it.
      </p>
      <dl className="facts">
        <dt>Admins</dt>
        <dd>{subjects(p.admins)}</dd>
        <dt>Auditors</dt>
        <dd>{subjects(p.auditors)}</dd>
      </dl>
      <h3>Resources</h3>
      <DataTable columns={['Name', 'Kind', 'Labels', 'Credential']}>
        {p.resources.map((r) => (
          <tr key={r.name}>
            <td data-label="Name">
              <strong>{r.name}</strong>
              {r.description && <div className="small muted">{r.description}</div>}
            </td>
            <td data-label="Kind">{r.kind}</td>
            <td data-label="Labels">
              {Object.entries(r.labels).map(([k, v]) => (
                <Badge key={k}>
                  {k}={v}
                </Badge>
              )) }
            </td>
            <td data-label="Credential" className="small">
              {r.credentialMode === 'injected' ? 'stored secret, injected by Airlock' : r.credentialMode === 'per_grant_user' ? 'a database user per grant' : r.credentialMode ? 'a database role per grant' : 'none'}
            </td>
          </tr>
        ))}
      </DataTable>
      <h3>Roles</h3>
      <ul className="cards">
        {p.roles.map((r) => (
          <li key={r.name} className="card">
            <div className="card-head">
              <strong className="title">{r.name}</strong>
              <span>
                <Badge tone={r.sql === 'read' ? 'neutral' : 'warn'}>sql: {r.sql}</Badge> {r.breakGlass && <Badge tone="bad">break-glass</Badge>}
              </span>
            </div>
            {r.description && <p className="muted small">{r.description}</p>}
            <dl className="facts small">
              <dt>Resources</dt>
              <dd>{[...r.resourceNames, ...(r.resourceLabels ? Object.entries(r.resourceLabels).map(([k, v]) => `labels ${k}=${v}`) : [])].join(', ')}</dd>
              <dt>Requestable by</dt>
              <dd>{subjects(r.requestableBy)}</dd>
              <dt>Approval</dt>
              <dd>
                {r.approval.approvals} of {subjects({ groups: r.approval.approverGroups, principals: r.approval.approverPrincipals })}
                {r.approval.selfApproval && ' · self-approval allowed'}
                {r.approval.autoApprove > 0 && ` · ${r.approval.autoApprove} auto-approve rule(s)`}
              </dd>
              <dt>At most</dt>
              <dd>
                {r.maxDuration} · pending times out after {r.pendingTimeout}
              </dd>
              <dt>Reason</dt>
              <dd>
                {r.justification.required ? 'required' : 'optional'}
                {r.justification.pattern && (
                  <>
                    , matching <code>{r.justification.pattern}</code>
                  </>
                )}
                {r.justification.hint && <> — “{r.justification.hint}”</>}
                {r.justification.ticketRequired && ' · ticket required'}
              </dd>
              {r.guardrails && (
                <>
                  <dt>Guardrails</dt>
                  <dd>
                    {[r.guardrails.denyKinds.length ? `deny ${r.guardrails.denyKinds.join(', ')}` : '', r.guardrails.requireWhere ? 'WHERE required' : '', r.guardrails.maxRows !== null ? `at most ${r.guardrails.maxRows} rows` : ''].filter(Boolean).join(' · ') || 'defaults'}
                  </dd>
                </>
              )}
              {r.maskedColumns.length > 0 && (
                <>
                  <dt>Masked</dt>
                  <dd>{r.maskedColumns.join(', ')}</dd>
                </>
              )}
            </dl>
          </li>
        ))}
      </ul>
      <h3>Notification channels</h3>
      {p.notify.length === 0 ? (
        <p className="muted small">No notification channels: nobody is told of requests outside the console.</p>
      ) : (
        <DataTable columns={['Channel', 'Kind', 'Sends to', 'Events']}>
          {p.notify.map((c) => (
            <tr key={c.name}>
              <td data-label="Channel">
                <strong>{c.name}</strong>
              </td>
              <td data-label="Kind">{c.kind === 'email' ? 'e-mail' : c.kind === 'slack' ? 'Slack' : 'webhook'}</td>
              <td data-label="Sends to" className="small">
                <code>{c.target}</code>
              </td>
              <td data-label="Events" className="small">
                {c.events.join(', ')}
              </td>
            </tr>
          ))}
        </DataTable>
      )}
    </div>
  );
}
