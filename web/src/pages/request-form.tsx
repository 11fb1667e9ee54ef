// The request form: resource, role, duration within the role's maximum, reason (with the pattern's hint), ticket,
// break-glass when the role allows it; an extension is the same form tied to the grant it extends.
import { useEffect, useMemo, useRef, useState, type FormEvent } from 'react';
import { postJson } from '../api/client.js';
import { makeRequest, type AccessRequest, type Grant, type Resource } from '../api/models.js';
import { api } from '../api/urls.js';
import { ErrorNote, Field, useAction } from '../components/ui.js';
import { formatDuration } from '../lib/time.js';
import { checkRequestForm } from '../lib/request-rules.js';

const PRESETS = [900, 1800, 3600, 7200, 14400, 28800, 86400];

export interface FormPreset {
  resource: string;
  role: string;
  extendsGrant?: Grant;
  /** Changes whenever the same preset is chosen again, so the form resets to it. */
  key: number;
}

export function RequestForm(props: { resources: Resource[]; preset: FormPreset | null; onClearExtend: () => void; onSent: (r: AccessRequest) => void }) {
  const requestable = useMemo(() => props.resources.filter((r) => r.roles.length > 0), [props.resources]);
  const [resource, setResource] = useState('');
  const [role, setRole] = useState('');
  const [duration, setDuration] = useState('1h');
  const [reason, setReason] = useState('');
  const [ticket, setTicket] = useState('');
  const [breakGlass, setBreakGlass] = useState(false);
  const [touched, setTouched] = useState(false);
  const firstField = useRef<HTMLSelectElement>(null);
  const extending = props.preset?.extendsGrant;

  useEffect(() => {
    if (!props.preset) return;
    setResource(props.preset.resource);
    setRole(props.preset.role);
    setTouched(false);
    firstField.current?.focus();
  }, [props.preset]);

  // Keep the selection valid as the resources load or change.
  const res = requestable.find((r) => r.name === resource) ?? requestable[0];
  const offer = res?.roles.find((o) => o.role === role) ?? res?.roles[0];
  useEffect(() => {
    if (res && res.name !== resource) setResource(res.name);
    if (offer && offer.role !== role) setRole(offer.role);
  }, [res, offer, resource, role]);

  const problems = checkRequestForm(offer, { duration, reason, ticket });
  const send = useAction(async () => {
    if (!res || !offer) return;
    const r = await postJson(api.newRequest(), { resource: res.name, role: offer.role, duration: duration.trim(), reason: reason.trim(), ticket: ticket.trim() || undefined, break_glass: breakGlass, extends_grant_id: extending?.id }, makeRequest);
    setReason('');
    setTicket('');
    setBreakGlass(false);
    setTouched(false);
    props.onSent(r);
    if (extending) props.onClearExtend();
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    setTouched(true);
    if (Object.keys(problems).length === 0) void send.run();
  };

  if (requestable.length === 0) return <p className="state empty">No role in the policy lets you request access. Ask an admin if you need some.</p>;
  const presets = offer ? PRESETS.filter((s) => s <= offer.maxDurationSeconds) : [];
  if (offer && !presets.includes(offer.maxDurationSeconds)) presets.push(offer.maxDurationSeconds);
  const show = (k: keyof typeof problems) => (touched ? (problems[k] ?? null) : null);
  return (
    <form onSubmit={submit} noValidate aria-label={extending ? 'Extend a grant' : 'Request access'}>
      {extending && (
        <div className="notice" role="status">
          Extending grant <code>{extending.id}</code> ({extending.role} on {extending.resource}): the new request is reviewed like any other.{' '}
          <button type="button" className="link" onClick={props.onClearExtend}>
            Ask for something else instead
          </button>
        </div>
      )}
      <div className="row">
        <Field label="Resource" required className="whole">
          {(f) => (
            <select id={f.id} ref={firstField} value={res?.name ?? ''} disabled={Boolean(extending)} onChange={(e) => setResource(e.target.value)}>
              {requestable.map((r) => (
                <option key={r.name} value={r.name}>
                  {r.name}
                  {r.labels.env ? ` (${r.labels.env})` : ''}
                </option>
              ))}
            </select>
          )}
        </Field>
        <Field label="Role" required hint={offer ? `${offer.readOnly ? 'read-only' : 'can write'} · up to ${offer.maxDuration} · ${offer.approvals} approval${offer.approvals === 1 ? '' : 's'}${offer.approvers.length ? ` (${offer.approvers.join(', ')})` : ''}` : undefined}>
          {(f) => (
            <select id={f.id} value={offer?.role ?? ''} disabled={Boolean(extending)} onChange={(e) => setRole(e.target.value)} aria-describedby={f.describedBy}>
              {res?.roles.map((o) => (
                <option key={o.role} value={o.role}>
                  {o.role}
                </option>
              ))}
            </select>
          )}
        </Field>
        <Field label="For how long" required hint={offer ? `e.g. 30m, 1h, 1h30m — at most ${offer.maxDuration}` : undefined} error={show('duration')}>
          {(f) => (
            <>
              <input id={f.id} list={`${f.id}-presets`} value={duration} onChange={(e) => setDuration(e.target.value)} aria-describedby={f.describedBy} aria-invalid={f.invalid} autoComplete="off" spellCheck={false} inputMode="text" />
              <datalist id={`${f.id}-presets`}>
                {presets.map((s) => (
                  <option key={s} value={formatDuration(s)} />
                ))}
              </datalist>
            </>
          )}
        </Field>
      </div>
      <Field label="Reason" required={offer?.justification.required} hint={offer?.justification.hint ?? (offer?.justification.pattern ? `Must match ${offer.justification.pattern}` : 'What you will do, so a reviewer can decide.')} error={show('reason')}>
        {(f) => <textarea id={f.id} rows={2} value={reason} onChange={(e) => setReason(e.target.value)} aria-describedby={f.describedBy} aria-invalid={f.invalid} maxLength={2000} />}
      </Field>
      <div className="row">
        <Field label="Ticket" required={offer?.justification.ticketRequired} hint="Optional unless the role needs one, e.g. OPS-123" error={show('ticket')}>
          {(f) => <input id={f.id} value={ticket} onChange={(e) => setTicket(e.target.value)} aria-describedby={f.describedBy} aria-invalid={f.invalid} maxLength={200} autoComplete="off" />}
        </Field>
        {offer?.breakGlass && !extending && (
          <div className="field checkbox">
            <label>
              <input type="checkbox" checked={breakGlass} onChange={(e) => setBreakGlass(e.target.checked)} /> Break-glass (emergency)
            </label>
            <p className="hint">Granted at once, flagged, and reviewed afterwards. Reviewers are alerted.</p>
          </div>
        )}
      </div>
      {send.error !== undefined && <ErrorNote error={send.error} />}
      <div className="actions">
        <button type="submit" className="primary" disabled={send.busy}>
          {send.busy ? 'Sending…' : extending ? 'Request extension' : breakGlass ? 'Break glass now' : 'Request access'}
        </button>
      </div>
    </form>
  );
}
