// Upstream logins for ssh resources: per session, a fresh ed25519 key and a user certificate from the gateway's SSH
// CA that the host's sshd stops accepting at the grant's end on its own (valid-before); or an injected private key.
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { isIP } from 'node:net';
import type { Grant } from '../domain/model.js';
import { AirlockError } from '../domain/errors.js';
import type { Access } from '../access/access.js';
import type { ResourceDef, RoleDef } from '../policy/schema.js';
import type { CredentialProvider, SshUpstreamLogin, UpstreamLogin } from '../credentials/provider.js';
import { resolveSecret } from '../credentials/secret-ref.js';
import { loadOrCreateSshKeys, type GatewaySshKeys } from '../credentials/ssh-ca.js';
import { generateSshKeyPair, signUserCertificate } from '../credentials/ssh-cert.js';
import { splitAddress } from './pg-credentials.js';
import { makeSshKnownHosts, type SshKnownHosts } from './ssh/upstream.js';
import type { Log } from '../domain/log.js';

/** Certificates start this long before now, so a host whose clock runs a little behind still accepts them. */
export const CLOCK_SKEW_MS = 60_000;

/** The Unix user a session under `role` logs in as on `resource`: the role's ssh.login, else the resource's username. */
export function sshLoginUser(role: RoleDef | undefined, resource: ResourceDef): string {
  const user = role?.ssh?.login ?? resource.credential?.username;
  if (!user) {
    throw new AirlockError('AIRLOCK_BAD_INPUT', `No Unix user to log in as on ${resource.name}: set ssh.login in the role${role ? ` "${role.name}"` : ''} or credential.username on the resource, then reload the policy.`, { resource: resource.name });
  }
  return user;
}

/**
 * The address this machine sends from to reach host:port (the kernel's route, asked through a connected UDP
 * socket: nothing is sent). A host behind NAT sees another address: give sourceAddresses then.
 */
export async function localAddressToward(host: string, port: number): Promise<string | null> {
  const family = isIP(host) === 6 || host.includes(':') ? 'udp6' : 'udp4';
  const s = createSocket(family);
  try {
    return await new Promise<string | null>((resolve) => {
      s.once('error', () => resolve(null));
      s.connect(port, host, () => {
        try {
          resolve(s.address().address);
        } catch {
          resolve(null);
        }
      });
    });
  } finally {
    s.close();
  }
}

export function makeSshCredentials(deps: {
  access: Pick<Access, 'policy' | 'clock' | 'audit' | 'store' | 'uow'>;
  dataDir: string;
  log: Log;
  /**
   * The certificate's source-address (CIDR list): the addresses the host sees the gateway connect from. Default: the
   * address this machine routes from toward each host; [] leaves the option out (any address).
   */
  sourceAddresses?: string[];
  /** Relative private_key { file } paths are read against this directory (the policy file's). */
  baseDir?: string;
}): CredentialProvider & { keys: GatewaySshKeys; knownHosts: SshKnownHosts } {
  const { access } = deps;
  const keys = loadOrCreateSshKeys(deps.dataDir);

  async function sourceFor(host: string, port: number): Promise<string[] | undefined> {
    if (deps.sourceAddresses) return deps.sourceAddresses.length ? deps.sourceAddresses : undefined;
    const local = await localAddressToward(host, port);
    return local ? [local] : undefined;
  }

  async function certificateLogin(grant: Grant, role: RoleDef | undefined, resource: ResourceDef, user: string, host: string, port: number): Promise<Pick<SshUpstreamLogin, 'privateKey' | 'certificate'>> {
    const now = access.clock.now();
    const validBefore = new Date(grant.expires_at);
    if (validBefore.getTime() <= now.getTime()) throw new AirlockError('AIRLOCK_NO_GRANT', `The grant for ${resource.name} has ended; request a new one.`);
    const serial = randomBytes(8).readBigUInt64BE();
    const keyId = `airlock:${grant.principal}:${grant.id}:${serial.toString(16)}`;
    const pair = generateSshKeyPair(keyId);
    const sourceAddresses = await sourceFor(host, port);
    const permissions = { port_forwarding: role?.ssh?.port_forwarding ?? false, agent_forwarding: role?.ssh?.agent_forwarding ?? false, x11: role?.ssh?.x11 ?? false };
    const certificate = signUserCertificate({
      publicKey: pair.publicLine,
      caKey: keys.userCa.key,
      serial,
      keyId,
      principals: [user],
      validAfter: new Date(now.getTime() - CLOCK_SKEW_MS),
      validBefore,
      sourceAddresses,
      permissions,
    });
    // sshd logs the key id and serial of every login: this event ties them to the grant. Audited before use (fail closed).
    await access.audit.append({
      actor: 'airlock',
      action: 'ssh.certificate.issued',
      target: resource.name,
      details: { grant_id: grant.id, principal: grant.principal, serial: serial.toString(), key_id: keyId, login: user, valid_before: validBefore.toISOString(), source_address: sourceAddresses ?? null, ca: keys.userCa.fingerprint, ...permissions },
    });
    return { privateKey: pair.privateKey, certificate };
  }

  return {
    keys,
    knownHosts: makeSshKnownHosts({ access }),

    // A certificate ends on its own at its valid-before, on the host, whether Airlock runs or not: there is no
    // per-grant login to make when a grant starts, nor to drop when it ends, so the lifecycle hooks below do nothing.
    attach(): void {},
    async cleanup(): Promise<number> {
      return 0;
    },
    async retryDue(): Promise<void> {},
    async pendingDrops() {
      return [];
    },

    async upstreamFor(grant: Grant, resource: ResourceDef): Promise<UpstreamLogin> {
      const role = access.policy().role(grant.role);
      const user = sshLoginUser(role, resource);
      const { host, port } = splitAddress(resource.address, 22);
      const hostKey = resource.host_key ? { pinned: resource.host_key } : { tofu: true as const };
      let login: Pick<SshUpstreamLogin, 'privateKey' | 'certificate'>;
      if (resource.credential?.mode === 'injected') {
        if (!resource.credential.private_key) throw new AirlockError('AIRLOCK_BAD_INPUT', `Resource "${resource.name}" has mode injected but no private_key; an admin must add one.`);
        login = { privateKey: resolveSecret(resource.credential.private_key, { baseDir: deps.baseDir }) };
      } else {
        login = await certificateLogin(grant, role, resource, user, host, port);
      }
      return { host, port, database: '', user, password: '', ssh: { ...login, hostKey } };
    },

    async close(): Promise<void> {},
  };
}

export type SshCredentials = ReturnType<typeof makeSshCredentials>;
