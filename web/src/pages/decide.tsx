// A reviewer's decision on one request: approve (comment optional) or deny (comment required), with risk hints.
import { useId, useState } from 'react';
import { postJson } from '../api/client.js';
import type { AccessRequest } from '../api/models.js';
import { api } from '../api/urls.js';
import { Badge, ErrorNote, useAction } from '../components/ui.js';
import type { RiskHint } from '../lib/risk.js';

export interface Decided {
  id: string;
  decision: 'approve' | 'deny';
  grantId: string | null;
  status: string;
}

/** Who asks: the name, flagged when it is an agent, with the person answerable for it. */
export function PrincipalName(props: { name: string; kind: 'user' | 'agent'; sponsor: string | null }) {
  return (
    <>
      <strong className="title">{props.name}</strong>
      {props.kind === 'agent' && (
        <>
          {' '}
          <Badge tone="warn" title="A service identity, such as an AI agent, not a person">
            agent
          </Badge>
        </>
      )}
      {props.sponsor && <span className="muted small sponsor"> sponsor: {props.sponsor}</span>}
    </>
  );
}

export function RiskHints(props: { hints: RiskHint[] }) {
  if (props.hints.length === 0) return <span className="muted small">No risk hints</span>;
  return (
    <ul className="risks" aria-label="Risk hints">
      {props.hints.map((h) => (
        <li key={h.kind}>
          <Badge tone={h.kind === 'break-glass' || h.kind === 'production' ? 'bad' : 'warn'} title={h.why}>
            {h.label}
          </Badge>
          <span className="visually-hidden">: {h.why}</span>
        </li>
      ))}
    </ul>
  );
}

export function DecisionForm(props: { request: AccessRequest; onDecided: (d: Decided) => void; onDeciding?: (id: string) => void; onFailed?: (id: string) => void }) {
  const { request: r } = props;
  const [comment, setComment] = useState('');
  const [denyNeedsComment, setDenyNeedsComment] = useState(false);
  const commentId = useId();
  const decide = useAction(async (decision: 'approve' | 'deny') => {
    props.onDeciding?.(r.id);
    let out: { grant_id?: string | null; request?: { status?: string } };
    try {
      out = (await postJson(decision === 'approve' ? api.approve(r.id) : api.deny(r.id), { comment: comment.trim() || undefined }, (j) => j)) as typeof out;
    } catch (e) {
      props.onFailed?.(r.id);
      throw e;
    }
    props.onDecided({ id: r.id, decision, grantId: out.grant_id ?? null, status: out.request?.status ?? (decision === 'approve' ? 'approved' : 'denied') });
  });
  const deny = () => {
    if (!comment.trim()) {
      setDenyNeedsComment(true);
      document.getElementById(commentId)?.focus();
      return;
    }
    void decide.run('deny');
  };
  const postHoc = r.status === 'approved' && r.breakGlass;
  return (
    <div className="decision">
      <label htmlFor={commentId}>Comment {denyNeedsComment ? '(say why you deny)' : '(optional to approve, needed to deny)'}</label>
      <textarea
        id={commentId}
        rows={2}
        value={comment}
        maxLength={2000}
        onChange={(e) => {
          setComment(e.target.value);
          setDenyNeedsComment(false);
        }}
        aria-invalid={denyNeedsComment}
        aria-describedby={denyNeedsComment ? `${commentId}-err` : undefined}
      />
      {denyNeedsComment && (
        <p className="field-error" id={`${commentId}-err`}>
          A denial needs a comment: the requester reads it.
        </p>
      )}
      <div className="actions">
        <button type="button" className="primary" onClick={() => void decide.run('approve')} disabled={decide.busy} aria-label={`Approve ${r.principal}'s request for ${r.role} on ${r.resource}`}>
          {postHoc ? 'Confirm (after the fact)' : 'Approve'}
        </button>
        <button type="button" className="danger-outline" onClick={deny} disabled={decide.busy} aria-label={`Deny ${r.principal}'s request for ${r.role} on ${r.resource}`}>
          {postHoc ? 'Deny and revoke' : 'Deny'}
        </button>
      </div>
      {decide.error !== undefined && <ErrorNote error={decide.error} />}
    </div>
  );
}
