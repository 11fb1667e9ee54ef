// Reviews: an approver's approve or deny. Runs under a row lock on the request; the last approval needed
// writes the grant in the same transaction, so simultaneous approvals never create two grants.
import { AirlockError } from '../domain/errors.js';
import type { Clock } from '../domain/clock.js';
import { newId } from '../domain/ids.js';
import type { AccessRequest, Caller, Review, ReviewDecision } from '../domain/model.js';
import type { Policy } from '../policy/compile.js';
import type { Store } from '../store/store.js';
import { toRequest, toReview } from '../store/records.js';
import type { UnitOfWork } from './unit-of-work.js';
import type { GrantService } from './grants.js';
import type { AuditLog } from '../audit/audit-log.js';
import { describeEnded } from './requests.js';
import { refuseIfLocked } from './locks.js';
import { mayDecide } from '../policy/statement-review-rule.js';

function isUniqueViolation(e: unknown): boolean {
  const err = e as { code?: string; message?: string };
  return err?.code === '23505' || err?.code === 'SQLITE_CONSTRAINT_UNIQUE' || /UNIQUE constraint failed/.test(err?.message ?? '');
}

export interface ReviewOutcome {
  request: AccessRequest;
  review: Review;
  grant_id: string | null;
}

export function makeReviewService(deps: { store: Store; clock: Clock; uow: UnitOfWork; grants: GrantService; audit: Pick<AuditLog, 'append'>; policy: () => Policy }) {
  const { store, clock, uow, grants } = deps;

  async function decide(caller: Caller, id: string, decision: ReviewDecision, comment: string | null): Promise<ReviewOutcome> {
    const policy = deps.policy();
    try {
      return await uow(async (trx, rec) => {
        const q = trx.selectFrom('requests').selectAll().where('id', '=', id);
        const row = await (store.dialect === 'postgres' ? q.forUpdate() : q).executeTakeFirst();
        if (!row) throw new AirlockError('AIRLOCK_NOT_FOUND', `There is no request ${id}. List them with: airlock requests`);
        const req = toRequest(row);
        const role = policy.role(req.role);
        if (!role) throw new AirlockError('AIRLOCK_UNKNOWN_ROLE', `Role "${req.role}" is no longer in the policy; this request cannot be decided.`);
        const self = req.principal === caller.principal.name;
        if (self && !role.approval.allow_self_approval) {
          throw new AirlockError('AIRLOCK_SELF_APPROVAL', decision === 'approve' ? `You cannot approve your own request; ask one of: ${policy.approversFor(role).filter((a) => a.name !== caller.principal.name).map((a) => a.name).join(', ') || 'an approver'}.` : 'You cannot deny your own request; cancel it instead: airlock cancel ' + id);
        }
        if (!mayDecide(policy.doc, caller.principal)) throw new AirlockError('AIRLOCK_AGENT_CANNOT_APPROVE', `${caller.principal.name} is an agent; agents cannot approve or deny requests unless the policy gives them may_approve: true.`);
        if (!policy.isApprover(caller.principal, role)) {
          throw new AirlockError('AIRLOCK_NOT_APPROVER', `You are not an approver for role "${role.name}" (approvers: groups ${role.approval.approver_groups.join(', ') || 'none'}${role.approval.approver_principals.length ? `; ${role.approval.approver_principals.join(', ')}` : ''}).`);
        }
        const now = clock.now().toISOString();
        // A break-glass grant is already active: a review now is the one it owes after the fact.
        const postHoc = req.status === 'approved' && req.break_glass;
        if (req.status !== 'pending' && !postHoc) throw new AirlockError('AIRLOCK_REQUEST_NOT_PENDING', `Request ${id} ${describeEnded(req)}; it can no longer be ${decision === 'approve' ? 'approved' : 'denied'}.`);
        if (postHoc) {
          const already = await trx.selectFrom('reviews').select('id').where('request_id', '=', id).where('post_hoc', '=', 1).executeTakeFirst();
          if (already) throw new AirlockError('AIRLOCK_ALREADY_REVIEWED', `Break-glass request ${id} has already been reviewed after the fact.`);
        }
        if (decision === 'approve' && !postHoc) await refuseIfLocked(trx, { principal: req.principal, resource: req.resource, role: req.role });
        const review: Review = { id: newId('rev'), request_id: id, reviewer: caller.principal.name, decision, comment, post_hoc: postHoc, created_at: now };
        await trx.insertInto('reviews').values({ ...review, post_hoc: postHoc ? 1 : 0 }).execute();
        rec.audit({ actor: caller.principal.name, action: `review.${decision}`, target: req.resource, source: caller.source, details: { request_id: id, review_id: review.id, comment, post_hoc: postHoc, principal: req.principal, role: req.role } });
        rec.change({ kind: 'request', id, event: 'reviewed', status: req.status, actor: caller.principal.name, principal: req.principal, resource: req.resource, role: req.role, time: now });

        if (postHoc) {
          await trx.updateTable('grants').set({ needs_review: 0 }).where('request_id', '=', id).execute();
          if (decision === 'deny' && req.grant_id) {
            await grants.endInTx(trx, rec, req.grant_id, 'revoked', `break-glass denied on review: ${comment ?? ''}`, caller.principal.name, `your break-glass access to ${req.resource} was denied on review by ${caller.principal.name}: ${comment ?? ''}`);
          }
          return { request: req, review, grant_id: req.grant_id };
        }

        if (decision === 'deny') {
          const upd = await trx.updateTable('requests').set({ status: 'denied', decided_at: now, decided_by: caller.principal.name, updated_at: now }).where('id', '=', id).where('status', '=', 'pending').returningAll().executeTakeFirst();
          if (!upd) throw new AirlockError('AIRLOCK_REQUEST_NOT_PENDING', `Request ${id} is no longer pending.`);
          rec.change({ kind: 'request', id, event: 'denied', status: 'denied', actor: caller.principal.name, principal: req.principal, resource: req.resource, role: req.role, time: now });
          return { request: toRequest(upd), review, grant_id: null };
        }

        const approvals = await trx.selectFrom('reviews').select('reviewer').where('request_id', '=', id).where('decision', '=', 'approve').where('post_hoc', '=', 0).execute();
        if (approvals.length < role.approval.approvals) {
          return { request: { ...req, updated_at: now }, review, grant_id: null };
        }
        const upd = await trx.updateTable('requests').set({ status: 'approved', decided_at: now, decided_by: approvals.map((a) => a.reviewer).join(','), updated_at: now }).where('id', '=', id).where('status', '=', 'pending').returningAll().executeTakeFirst();
        if (!upd) throw new AirlockError('AIRLOCK_REQUEST_NOT_PENDING', `Request ${id} was decided by someone else a moment ago.`);
        rec.audit({ actor: caller.principal.name, action: 'request.approve', target: req.resource, source: caller.source, details: { request_id: id, approvers: approvals.map((a) => a.reviewer) } });
        const g = await grants.activateInTx(trx, rec, toRequest(upd), caller.principal.name);
        await trx.updateTable('requests').set({ grant_id: g.id }).where('id', '=', id).execute();
        rec.change({ kind: 'request', id, event: 'approved', status: 'approved', actor: caller.principal.name, principal: req.principal, resource: req.resource, role: req.role, time: now });
        return { request: { ...toRequest(upd), grant_id: g.id }, review, grant_id: g.id };
      });
    } catch (e) {
      if (isUniqueViolation(e)) throw new AirlockError('AIRLOCK_ALREADY_REVIEWED', `You already reviewed request ${id}.`);
      if (e instanceof AirlockError && (e.code === 'AIRLOCK_SELF_APPROVAL' || e.code === 'AIRLOCK_NOT_APPROVER' || e.code === 'AIRLOCK_AGENT_CANNOT_APPROVE' || e.code === 'AIRLOCK_LOCKED')) {
        await deps.audit.append({ actor: caller.principal.name, action: 'review.refused', target: id, source: caller.source, details: { decision, code: e.code, message: e.message } });
      }
      throw e;
    }
  }

  return {
    approve: (caller: Caller, id: string, comment?: string | null) => decide(caller, id, 'approve', comment?.trim() || null),
    deny(caller: Caller, id: string, comment: string) {
      if (!comment?.trim()) return Promise.reject(new AirlockError('AIRLOCK_BAD_INPUT', 'Say why you deny (--comment); the requester will read it.'));
      return decide(caller, id, 'deny', comment.trim());
    },
    async forRequest(id: string): Promise<Review[]> {
      return (await store.db.selectFrom('reviews').selectAll().where('request_id', '=', id).orderBy('created_at').execute()).map(toReview);
    },
  };
}

export type ReviewService = ReturnType<typeof makeReviewService>;
