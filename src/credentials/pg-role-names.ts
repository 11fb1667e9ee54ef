// Names and comments of per-grant PostgreSQL roles: which deployment and which grant a role belongs to.
import { randomBytes } from 'node:crypto';
import { AirlockError } from '../domain/errors.js';
import { shortId } from '../domain/ids.js';

const GRANT_ID = /^[A-Za-z0-9_.:-]{1,128}$/;
/** Short enough that marker and role names stay under PostgreSQL's 63 bytes, and plain enough to need no quoting. */
const DEPLOYMENT_ID = /^[a-z0-9]{1,12}$/;
const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';

/** A fresh deployment id: 8 characters [a-z2-7], 40 random bits. */
export function newDeploymentId(): string {
  return [...randomBytes(8)].map((b) => BASE32[b & 31]).join('');
}

export function checkDeploymentId(id: string): string {
  if (!DEPLOYMENT_ID.test(id)) throw new AirlockError('AIRLOCK_BAD_INPUT', `the deployment id "${id.slice(0, 40)}" must be 1-12 lower-case letters or digits`);
  return id;
}

export function checkGrantId(grantId: string): void {
  if (!GRANT_ID.test(grantId)) throw new AirlockError('AIRLOCK_BAD_INPUT', `"${grantId.slice(0, 40)}" is not a grant id`);
}

/** The principal's part of a role name: lower case [a-z0-9_], runs of other characters folded to one '_', at most 30 characters. */
export function sanitizePrincipal(principal: string): string {
  const s = principal.toLowerCase().replace(/[^a-z0-9_]+/g, '_').replace(/_+/g, '_').replace(/^_|_$/g, '');
  return s.slice(0, 30).replace(/_$/, '') || 'principal';
}

/**
 * airlock_[<deployment>_]<principal>_<8 characters of the grant id>: readable in pg_stat_activity, at most 60 bytes
 * (PostgreSQL allows 63). The deployment part keeps two Airlocks on one server from ever making the same name.
 */
export function pgRoleName(principal: string, grantId: string, deploymentId?: string): string {
  checkGrantId(grantId);
  const grantPart = shortId(grantId, 8).toLowerCase().replace(/[^a-z0-9]/g, '');
  if (!grantPart) throw new AirlockError('AIRLOCK_BAD_INPUT', `the grant id "${grantId}" has no characters usable in a role name`);
  const deployment = deploymentId === undefined ? '' : `${checkDeploymentId(deploymentId)}_`;
  return `airlock_${deployment}${sanitizePrincipal(principal)}_${grantPart}`;
}

/** The marker role of a deployment: every per-grant role it makes joins it, and it only ever acts on members. */
export function markerRoleName(deploymentId?: string): string {
  return deploymentId === undefined ? LEGACY_MARKER : `${LEGACY_MARKER}_${checkDeploymentId(deploymentId)}`;
}

/** The marker and comment of Airlock before deployment ids: kept so that a store can still drop the roles it recorded. */
export const LEGACY_MARKER = 'airlock_managed';
const LEGACY_PREFIX = 'airlock grant ';

/** `airlock <deployment> grant <id>`; without a deployment, the older `airlock grant <id>`. */
export function roleComment(grantId: string, deploymentId?: string): string {
  checkGrantId(grantId);
  return deploymentId === undefined ? LEGACY_PREFIX + grantId : `airlock ${checkDeploymentId(deploymentId)} grant ${grantId}`;
}

/** The grant id in a comment written for this deployment (or, with `legacy`, in the older form); null otherwise. */
export function parseRoleComment(comment: string | null, deploymentId: string | undefined, legacy = false): string | null {
  if (!comment) return null;
  const prefixes = [deploymentId === undefined ? LEGACY_PREFIX : `airlock ${deploymentId} grant `, ...(legacy ? [LEGACY_PREFIX] : [])];
  const prefix = prefixes.find((p) => comment.startsWith(p));
  if (!prefix) return null;
  const id = comment.slice(prefix.length);
  return GRANT_ID.test(id) ? id : null;
}
