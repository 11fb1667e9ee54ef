// Admin: locks (create, lift), principals and their tokens, registered SSH keys, notifications (admin-notifications.tsx), the loaded policy read-only, and "explain":
// why a principal can or cannot get a role on a resource. Auditors see it all; only admins change anything.
import { useState, type FormEvent } from 'react';
import { getJson, postJson } from '../api/client.js';
import { makeLock, makePolicyView, makePrincipalInfo, makeSshKey, makeToken, type PolicyView, type PrincipalInfo } from '../api/models.js';
import { Explain, PolicyRender } from './policy.js';
import { api } from '../api/urls.js';
import { Badge, CopyButton, DataTable, Empty, ErrorNote, Field, Loaded, Section, Time, useAction } from '../components/ui.js';
import { useLoad, useNow } from '../lib/hooks.js';
import { useViewer } from '../viewer.js';
import { Notifications } from './admin-notifications.js';

const listOf = <T,>(key: string, make: (j: unknown) => T) => (json: unknown): T[] => (((json as Record<string, unknown>)?.[key] as unknown[]) ?? []).map(make);

export function Admin() {
  const policy = useLoad((signal) => getJson(api.policy(), makePolicyView, { signal }), [], { live: ['policy'] });
  return (
    <div className="page">
      <h1>Admin</h1>
      <Locks policy={policy.data} />
      <Principals />
      <SshKeys />
      <Notifications />
      <Explain policy={policy.data} />
      <Section title="Loaded policy">
        <Loaded {...policy} what="the policy">
          {(p) => <PolicyRender policy={p} />}
        </Loaded>
      </Section>
    </div>
  );
}

function Locks(props: { policy: PolicyView | undefined }) {
  const { me } = useViewer();
  const locks = useLoad((signal) => getJson(api.locks(), listOf('locks', makeLock), { signal }), [], { live: ['lock'] });
  const now = useNow(10_000);
  const [kind, setKind] = useState<'principal' | 'resource' | 'role'>('principal');
  const [target, setTarget] = useState('');
  const [reason, setReason] = useState('');
  const [done, setDone] = useState<string | null>(null);
  const create = useAction(async () => {
    const out = (await postJson(api.locks(), { target_kind: kind, target: target.trim(), reason: reason.trim() }, (j) => j)) as { grants_ended?: number };
    setDone(`Locked ${kind} ${target.trim()}; ${out.grants_ended ?? 0} active grant(s) ended.`);
    setTarget('');
    setReason('');
    locks.reload();
  });
  const lift = useAction(async (id: string) => {
    await postJson(api.liftLock(id), {}, (j) => j);
    setDone('Lock lifted.');
    locks.reload();
  });
  const names = props.policy ? (kind === 'principal' ? props.policy.principals.map((p) => p.name) : kind === 'resource' ? props.policy.resources.map((r) => r.name) : props.policy.roles.map((r) => r.name)) : [];
  const submit = (e: FormEvent) => {
    e.preventDefault();
    void create.run();
  };
  return (
    <Section title="Locks" count={locks.data?.length}>
      <p className="muted small">A lock refuses new requests, approvals and sessions for its target and ends the live ones at once.</p>
      {done && (
        <p className="notice" role="status">
          {done}
        </p>
      )}
      <Loaded {...locks} what="locks">
        {(ls) =>
          ls.length === 0 ? (
            <Empty>No active locks.</Empty>
          ) : (
            <ul className="rows" aria-label="Active locks">
              {ls.map((l) => (
                <li key={l.id} className="row-item" data-testid="lock">
                  <div className="row-main">
                    <Badge tone="bad">locked</Badge> {l.targetKind} <strong>{l.target}</strong>
                  </div>
                  <div className="row-sub small muted">
                    “{l.reason}” · by {l.createdBy} <Time date={l.createdAt} now={now} relativeOnly />
                  </div>
                  {me.admin && (
                    <div className="row-actions">
                      <button type="button" className="small" onClick={() => void lift.run(l.id)} disabled={lift.busy} aria-label={`Lift the lock on ${l.targetKind} ${l.target}`}>
                        Lift
                      </button>
                    </div>
                  )}
                </li>
              ))}
            </ul>
          )
        }
      </Loaded>
      {lift.error !== undefined && <ErrorNote error={lift.error} />}
      {me.admin && (
        <form className="lock-form" onSubmit={submit} aria-label="Create a lock">
          <div className="row">
            <Field label="Lock a">
              {(f) => (
                <select id={f.id} value={kind} onChange={(e) => setKind(e.target.value as typeof kind)}>
                  <option value="principal">principal</option>
                  <option value="resource">resource</option>
                  <option value="role">role</option>
                </select>
              )}
            </Field>
            <Field label="Named" required>
              {(f) => (
                <>
                  <input id={f.id} list={`${f.id}-names`} value={target} onChange={(e) => setTarget(e.target.value)} autoComplete="off" required />
                  <datalist id={`${f.id}-names`}>
                    {names.map((n) => (
                      <option key={n} value={n} />
                    ))}
                  </datalist>
                </>
              )}
            </Field>
            <Field label="Reason" required hint="Shown to whoever the lock refuses.">
              {(f) => <input id={f.id} value={reason} onChange={(e) => setReason(e.target.value)} aria-describedby={f.describedBy} maxLength={2000} required />}
            </Field>
          </div>
          {create.error !== undefined && <ErrorNote error={create.error} />}
          <div className="actions">
            <button type="submit" className="danger" disabled={create.busy || !target.trim() || !reason.trim()}>
              {create.busy ? 'Locking…' : 'Lock now'}
            </button>
          </div>
        </form>
      )}
    </Section>
  );
}

function Principals() {
  const principals = useLoad((signal) => getJson(api.principals(), listOf('principals', makePrincipalInfo), { signal }), []);
  const [open, setOpen] = useState<string | null>(null);
  const { me } = useViewer();
  return (
    <Section title="Principals and tokens" count={principals.data?.length}>
      <Loaded {...principals} what="principals">
        {(ps) =>
          ps.length === 0 ? (
            <Empty>The policy names no principals.</Empty>
          ) : (
            <DataTable columns={['Principal', 'Groups', 'May', 'Password', 'Valid tokens', { hidden: 'Actions' }]}>
              {ps.map((p) => (
                <PrincipalRow key={p.name} p={p} open={open === p.name} canManage={me.admin} onToggle={() => setOpen(open === p.name ? null : p.name)} onChanged={principals.reload} />
              ))}
            </DataTable>
          )
        }
      </Loaded>
    </Section>
  );
}

/** Public keys principals log in to the SSH gateway with (`airlock ssh-key add`); added and removed from the CLI. */
function SshKeys() {
  const keys = useLoad((signal) => getJson(api.sshKeys(), listOf('keys', makeSshKey), { signal }), []);
  const now = useNow(60_000);
  return (
    <Section title="SSH keys" count={keys.data?.length}>
      <Loaded {...keys} what="SSH keys">
        {(ks) =>
          ks.length === 0 ? (
            <Empty>No SSH keys registered. A principal adds one with: airlock ssh-key add ~/.ssh/id_ed25519.pub</Empty>
          ) : (
            <DataTable columns={['Principal', 'Fingerprint', 'Comment', 'Added']}>
              {ks.map((k) => (
                <tr key={k.id}>
                  <td data-label="Principal">{k.principal}</td>
                  <td data-label="Fingerprint"><code>{k.fingerprint}</code></td>
                  <td data-label="Comment">{k.comment ?? ''}</td>
                  <td data-label="Added">
                    <Time date={k.createdAt} now={now} relativeOnly /> by {k.createdBy}
                  </td>
                </tr>
              ))}
            </DataTable>
          )
        }
      </Loaded>
    </Section>
  );
}

function PrincipalRow(props: { p: PrincipalInfo; open: boolean; canManage: boolean; onToggle: () => void; onChanged: () => void }) {
  const { p } = props;
  const may = [p.admin && 'admin', p.auditor && 'auditor', p.approverOf.length > 0 && `approve ${p.approverOf.join(', ')}`].filter(Boolean).join(' · ');
  return (
    <>
      <tr>
        <td data-label="Principal">
          <strong>{p.name}</strong> {p.kind === 'agent' && <Badge tone="info">agent</Badge>}
          {p.email && <div className="small muted">{p.email}</div>}
        </td>
        <td data-label="Groups">{p.groups.join(', ') || '–'}</td>
        <td data-label="May" className="small">
          {may || 'request'}
        </td>
        <td data-label="Password">{p.passwordSetAt ? <Time date={p.passwordSetAt} relativeOnly /> : <span className="muted">not set</span>}</td>
        <td data-label="Valid tokens">{p.validTokens}</td>
        <td>
          {props.canManage && (
            <button type="button" className="small" aria-expanded={props.open} onClick={props.onToggle}>
              {props.open ? 'Hide tokens' : 'Tokens…'}
            </button>
          )}
        </td>
      </tr>
      {props.open && (
        <tr className="sub">
          <td colSpan={6}>
            <Tokens principal={p.name} onChanged={props.onChanged} />
          </td>
        </tr>
      )}
    </>
  );
}

function Tokens(props: { principal: string; onChanged: () => void }) {
  const tokens = useLoad((signal) => getJson(api.tokens(props.principal), listOf('tokens', makeToken), { signal }), [props.principal]);
  const now = useNow(10_000);
  const [ttl, setTtl] = useState('8h');
  const [label, setLabel] = useState('');
  const [created, setCreated] = useState<{ token: string; expiresAt: Date } | null>(null);
  const create = useAction(async () => {
    const j = (await postJson(api.newToken(), { principal: props.principal, ttl: ttl.trim(), label: label.trim() || undefined }, (x) => x)) as { token?: string };
    const t = makeToken(j);
    setCreated({ token: typeof j.token === 'string' ? j.token : '', expiresAt: t.expiresAt });
    setLabel('');
    tokens.reload();
    props.onChanged();
  });
  const revoke = useAction(async (id: string) => {
    await postJson(api.revokeToken(id), {}, (x) => x);
    tokens.reload();
    props.onChanged();
  });
  return (
    <div className="tokens">
      {created && (
        <div className="secret" role="status">
          <p>
            <strong>New token for {props.principal}</strong>, valid until <Time date={created.expiresAt} />. It is shown only now: copy it and hand it over safely.
          </p>
          <div className="copyline">
            <code data-testid="new-token">{created.token}</code>
            <CopyButton text={created.token} label="Copy the new token" />
          </div>
          <button type="button" className="small" onClick={() => setCreated(null)}>
            I have copied it; hide it
          </button>
        </div>
      )}
      <Loaded {...tokens} what="tokens">
        {(ts) =>
          ts.length === 0 ? (
            <Empty>No tokens.</Empty>
          ) : (
            <ul className="rows" aria-label={`Tokens of ${props.principal}`}>
              {ts.map((t) => {
                const valid = !t.revokedAt && t.expiresAt > now;
                return (
                  <li key={t.id} className="row-item">
                    <div className="row-main">
                      <code>{t.id}</code> {t.label && <span>{t.label}</span>} {valid ? <Badge tone="good">valid</Badge> : <Badge>{t.revokedAt ? 'revoked' : 'expired'}</Badge>}
                    </div>
                    <div className="row-sub small muted">
                      made by {t.createdBy} <Time date={t.createdAt} now={now} relativeOnly /> · {t.revokedAt ? <>revoked <Time date={t.revokedAt} now={now} relativeOnly /></> : <>expires <Time date={t.expiresAt} now={now} relativeOnly /></>}
                    </div>
                    {valid && (
                      <div className="row-actions">
                        <button type="button" className="small danger-outline" onClick={() => void revoke.run(t.id)} disabled={revoke.busy}>
                          Revoke
                        </button>
                      </div>
                    )}
                  </li>
                );
              })}
            </ul>
          )
        }
      </Loaded>
      {revoke.error !== undefined && <ErrorNote error={revoke.error} />}
      <form
        className="row"
        onSubmit={(e) => {
          e.preventDefault();
          void create.run();
        }}
        aria-label={`Create a token for ${props.principal}`}
      >
        <Field label="Lifetime" hint="e.g. 8h, 30d">
          {(f) => <input id={f.id} value={ttl} onChange={(e) => setTtl(e.target.value)} aria-describedby={f.describedBy} autoComplete="off" />}
        </Field>
        <Field label="Label (optional)">{(f) => <input id={f.id} value={label} onChange={(e) => setLabel(e.target.value)} maxLength={200} autoComplete="off" />}</Field>
        <div className="actions end">
          <button type="submit" disabled={create.busy}>
            {create.busy ? 'Creating…' : 'Create token'}
          </button>
        </div>
      </form>
      {create.error !== undefined && <ErrorNote error={create.error} />}
    </div>
  );
}
