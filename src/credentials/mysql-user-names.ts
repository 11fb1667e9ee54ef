// Names and markers of per-grant MySQL/MariaDB users: which deployment and which grant a user belongs to.
import { AirlockError } from '../domain/errors.js';
import { shortId } from '../domain/ids.js';
import { checkDeploymentId, checkGrantId } from './pg-role-names.js';

/** MySQL 8 allows 32 characters in a user name (MariaDB 10.11 allows 80): every name made here fits the smaller. */
export const MAX_MYSQL_USER_CHARS = 32;
/** An event's COMMENT holds at most 64 characters on both servers. */
export const MAX_EVENT_COMMENT_CHARS = 64;
const PREFIX = 'airlock_';
/** airlock_ (8) + principal (15) + _ (1) + grant (8) = 32. */
const PRINCIPAL_CHARS = MAX_MYSQL_USER_CHARS - PREFIX.length - 1 - 8;
const MARKER_PREFIX = 'airlock_managed';

/** The principal's part of a user name: lower case [a-z0-9_], runs of anything else folded to one '_', at most 15 characters. */
export function mysqlPrincipalPart(principal: string): string {
  const s = principal.toLowerCase().replace(/[^a-z0-9_]+/g, '_').replace(/_+/g, '_').replace(/^_|_$/g, '');
  return s.slice(0, PRINCIPAL_CHARS).replace(/_+$/, '') || 'principal';
}

/**
 * airlock_<principal>_<8 characters of the grant id>, at most 32 characters of [a-z0-9_], so it never needs more than
 * plain quoting and fits MySQL 8 as well as MariaDB. The deployment is not in the name (it would not fit); it is in the
 * marker role the user joins and in the comment of the user's expiry event.
 */
export function mysqlUserName(principal: string, grantId: string): string {
  checkGrantId(grantId);
  const grantPart = shortId(grantId, 8).toLowerCase().replace(/[^a-z0-9]/g, '');
  if (!grantPart) throw new AirlockError('AIRLOCK_BAD_INPUT', `the grant id "${grantId}" has no characters usable in a user name`);
  return `${PREFIX}${mysqlPrincipalPart(principal)}_${grantPart}`;
}

/** Whether a user name has the shape mysqlUserName makes; nothing else is ever dropped. */
export function isMysqlUserName(name: string): boolean {
  return name.length <= MAX_MYSQL_USER_CHARS && /^airlock_[a-z0-9_]+_[a-z0-9]{1,8}$/.test(name) && !name.startsWith(MARKER_PREFIX);
}

/** The role every per-grant user of a deployment is granted (it holds no privileges): Airlock only drops its members. */
export function mysqlMarkerRole(deploymentId?: string): string {
  return deploymentId === undefined ? MARKER_PREFIX : `${MARKER_PREFIX}_${checkDeploymentId(deploymentId)}`;
}

/** The one-time event that ends the user on the server's own clock: airlock_expire_<user>, at most 47 characters. */
export function mysqlExpiryEventName(user: string): string {
  return `airlock_expire_${user}`;
}

export interface MysqlMarker {
  /** The deployment id, '' for a deployment without one. */
  deployment: string;
  grantId: string;
}

/** `{"airlock":"<deployment>","grant":"<grant id>"}`: the expiry event's comment, and a MySQL 8 user's COMMENT. */
export function mysqlMarkerComment(grantId: string, deploymentId?: string): string {
  checkGrantId(grantId);
  const text = JSON.stringify({ airlock: deploymentId === undefined ? '' : checkDeploymentId(deploymentId), grant: grantId });
  if (text.length > MAX_EVENT_COMMENT_CHARS) throw new AirlockError('AIRLOCK_BAD_INPUT', `the grant id "${grantId.slice(0, 40)}" is too long for a MySQL event comment`);
  return text;
}

/** The marker in a comment, or null when the comment is not one Airlock wrote. */
export function parseMysqlMarker(comment: string | null | undefined): MysqlMarker | null {
  if (!comment) return null;
  try {
    const v = JSON.parse(comment) as unknown;
    if (typeof v !== 'object' || v === null) return null;
    const { airlock, grant } = v as { airlock?: unknown; grant?: unknown };
    if (typeof airlock !== 'string' || typeof grant !== 'string') return null;
    if (airlock !== '' && !/^[a-z0-9]{1,12}$/.test(airlock)) return null;
    checkGrantId(grant);
    return { deployment: airlock, grantId: grant };
  } catch {
    return null;
  }
}
