// The upstream credential of a resource kind (PostgreSQL per-grant roles, MySQL per-grant users, injected secrets):
// what the server wires to the grant lifecycle at start and what the gateway planner asks for each session.
import type { Grant } from '../domain/model.js';
import type { ResourceDef } from '../policy/schema.js';
import type { PgUpstreamSecurity } from './pg-upstream-security.js';

/** The login a gateway uses upstream: the user never sees it. */
export interface UpstreamLogin {
  host: string;
  port: number;
  database: string;
  user: string;
  /** Never logged, never sent to the client. */
  password: string;
  /**
   * PostgreSQL only (the PostgreSQL provider always sets it): TLS and the password methods the login may answer,
   * from the resource (src/credentials/pg-upstream-security.ts). Other kinds carry their own settings in their front-end.
   */
  security?: PgUpstreamSecurity;
  /** SSH only: how the gateway logs in to the host and which host key it must show (src/gateway/ssh/upstream.ts). */
  ssh?: SshUpstreamLogin;
}

/** The SSH login of one session: a private key (made for the session, or injected) and, usually, its certificate. */
export interface SshUpstreamLogin {
  /** OpenSSH private key (PEM/OpenSSH format). Never logged, never sent to the client. */
  privateKey: string;
  /** OpenSSH user certificate for privateKey, signed by Airlock's SSH user CA (absent for an injected key). */
  certificate?: Buffer;
  /** The host key the server must show: pinned in the policy, or remembered on first use. */
  hostKey: { pinned: string } | { tofu: true };
}

/** A per-grant login whose grant ended but whose drop failed: its last error and when the next attempt is due. */
export interface PendingDrop {
  grant_id: string;
  resource: string;
  username: string;
  attempts: number;
  error: string | null;
  next_attempt_at: string | null;
}

export interface CredentialProvider {
  /** Hooks the grant lifecycle: make the per-grant login when a grant starts, disable and drop it when it ends (audited). */
  attach(): void;
  /** At start: drops every per-grant login of this deployment whose grant is over; how many were dropped. */
  cleanup(): Promise<number>;
  /** Tries every failed drop that is due again. */
  retryDue(): Promise<void>;
  /** Drops that failed and wait for their next attempt. */
  pendingDrops(): Promise<PendingDrop[]>;
  /**
   * The login the gateway uses upstream for this grant on `resource` (of this provider's kind), for `database` (the
   * planner has checked that the resource covers it; undefined means the resource's default). Never shown to the user.
   */
  upstreamFor(grant: Grant, resource: ResourceDef, database: string | undefined): Promise<UpstreamLogin>;
  /** Closes its admin connections and timers (server shutdown). */
  close(): Promise<void>;
}

/** The providers by resource kind (`postgres`, `mysql`, …); a kind without one has no gateway sessions. */
export type CredentialProviders = Partial<Record<ResourceDef['kind'], CredentialProvider>>;
