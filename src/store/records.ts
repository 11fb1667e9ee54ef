// Row ↔ record conversion at one place: 0/1 integers become booleans, nothing else changes shape.
import type { AccessRequest, Grant, Lock, Review, TokenRecord } from '../domain/model.js';
import type { DB } from './schema.js';

export function toRequest(r: DB['requests']): AccessRequest {
  return { ...r, duration_seconds: Number(r.duration_seconds), break_glass: Boolean(r.break_glass) };
}

export function toGrant(r: DB['grants']): Grant {
  return { ...r, break_glass: Boolean(r.break_glass), needs_review: Boolean(r.needs_review) };
}

export function toReview(r: DB['reviews']): Review {
  return { ...r, post_hoc: Boolean(r.post_hoc) };
}

export function toLock(r: DB['locks']): Lock {
  return { ...r };
}

export function toToken(r: DB['tokens']): TokenRecord {
  return { id: r.id, principal: r.principal, label: r.label, created_at: r.created_at, expires_at: r.expires_at, revoked_at: r.revoked_at, created_by: r.created_by, grant_id: r.grant_id ?? null };
}
