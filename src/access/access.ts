// Builds the access services over one store and one policy source: the object every front-end talks to.
import type { Clock } from '../domain/clock.js';
import type { Caller, LockTargetKind } from '../domain/model.js';
import type { Policy } from '../policy/compile.js';
import type { Store } from '../store/store.js';
import type { AuditLog } from '../audit/audit-log.js';
import { makeChangeBus } from './change-bus.js';
import { makeUnitOfWork } from './unit-of-work.js';
import { makeTokenService } from './tokens.js';
import { makeGrantService } from './grants.js';
import { makeRequestService } from './requests.js';
import { makeReviewService } from './reviews.js';
import { makeLockService } from './locks.js';
import { makeExpiryScheduler } from './expiry.js';
import { makeExpiryWarnings } from './expiry-warnings.js';
import { makeSessionRegistry } from './session-registry.js';
import { makeSessionKill } from './session-kill.js';
import { makeVisibility } from './visibility.js';
import { makeSessionHistory } from './session-history.js';
import { makeConsoleSessions } from './console-sessions.js';
import { makeStatementReviewService } from './statement-review-service.js';

export function makeAccess(deps: { store: Store; clock: Clock; audit: AuditLog; policy: () => Policy; onError?: (e: unknown) => void }) {
  const { store, clock, audit, policy } = deps;
  const bus = makeChangeBus();
  const uow = makeUnitOfWork({ store, audit, bus });
  const isAdmin = (c: Caller) => policy().isAdmin(c.principal);
  const tokens = makeTokenService({ store, clock, uow, audit, policy });
  const grants = makeGrantService({ store, clock, uow, isAdmin });
  const requests = makeRequestService({ store, clock, uow, grants, audit, policy });
  const reviews = makeReviewService({ store, clock, uow, grants, audit, policy });
  const locks = makeLockService({
    store,
    clock,
    uow,
    isAdmin,
    exists: (kind: LockTargetKind, name: string) => (kind === 'principal' ? policy().principal(name) : kind === 'resource' ? policy().resource(name) : policy().role(name)) !== undefined,
    endGrantsFor: (trx, rec, m, reason, actor) => grants.endForLock(trx, rec, m, reason, actor),
  });
  const expiry = makeExpiryScheduler({ clock, grants, requests, onError: deps.onError });
  const sessions = makeSessionRegistry({ clock });
  // Lead time from the e-mail settings: e-mail is where a person hears it (other channels may subscribe to the event).
  const expiryWarnings = makeExpiryWarnings({ clock, grants, bus, lead: () => policy().doc.notify.email?.expiry_warning ?? 600, onError: deps.onError });

  // Keep the scheduler told about what this process creates; other processes' grants arrive by resync.
  grants.hooks.activated.push((g) => expiry.add('grant', g.id, g.expires_at));
  grants.hooks.activated.push((g) => expiryWarnings.add(g));
  bus.subscribe((c) => {
    if (c.kind === 'request' && c.event === 'created') {
      void requests.get(c.id).then((r) => r && r.status === 'pending' && expiry.add('request', r.id, r.timeout_at));
    }
  });
  // Ended grants end their live sessions at once, with the reason.
  grants.hooks.ended.push(({ grant, message }) => {
    sessions.ended({ grant_id: grant.id }, message);
  });

  // A revoked token ends the sessions opened with it; a revocation made by another process arrives on the bus too
  // (cluster.ts publishes it here).
  bus.subscribe((c) => {
    if (c.kind === 'token' && c.event === 'revoked') sessions.ended({ token_id: c.id }, c.message ?? 'the access token this session logged in with was revoked');
  });

  const kills = makeSessionKill({ sessions, audit, store, bus, uow, clock });
  const visibility = makeVisibility(policy);
  const sessionHistory = makeSessionHistory({ store, clock, audit, sessions, visibility });
  const consoleSessions = makeConsoleSessions({ store, clock, uow, tokens });
  const statementReviews = makeStatementReviewService({ store, clock, uow, audit, policy, bus, seesAll: visibility.seesAll });
  // A held statement has no session left to run in once its grant ends: its review is withdrawn with the reason.
  grants.hooks.ended.push(async ({ grant, message }) => {
    await statementReviews.withdrawForGrant(grant.id, message);
  });

  return { store, clock, audit, policy, bus, uow, tokens, grants, requests, reviews, locks, expiry, expiryWarnings, sessions, kills, visibility, sessionHistory, consoleSessions, statementReviews };
}

export type Access = ReturnType<typeof makeAccess>;
