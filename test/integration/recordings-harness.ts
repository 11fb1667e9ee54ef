// Recorded SSH/exec sessions made the way the front-ends make them, on a real in-process Airlock: the real planner
// (with an SSH credential provider that hands out a login nobody uses: no host is reached), openSession
// (session.start through the server's audit log), recordings.start on the server's one Recordings, output, close,
// and GatewaySession.end(reason, { recording: seal }).
import { setTimeout as sleep } from 'node:timers/promises';
import { startAirlock, type InProcessAirlock } from '../support/in-process-server.js';
import { makeGatewayAccess } from '../../src/gateway/core/planner.js';
import { openSession, type GatewaySession } from '../../src/gateway/core/session-lifecycle.js';
import { silentLog } from '../../src/domain/log.js';
import type { GatewayDeps } from '../../src/gateway/types.js';
import type { CredentialProvider } from '../../src/credentials/provider.js';
import type { Recording, RecordingSeal } from '../../src/audit/recordings.js';

export const RECORDINGS_POLICY = `
version: 1
principals:
  - { name: alice, groups: [engineers] }
  - { name: eve, groups: [engineers] }
  - { name: bob, groups: [sre] }
  - { name: sec, groups: [security] }
admins: { groups: [security] }
auditors: { groups: [security] }
resources:
  - { name: bastion, kind: ssh, address: "127.0.0.1:22", labels: { env: prod } }
  - { name: payments-pod, kind: exec, exec: { command: "/usr/bin/printf %s {target} {command}", targets: [api-0] }, labels: { env: prod } }
roles:
  - name: shell
    resources: { labels: { env: prod } }
    max_duration: 4h
    requestable_by: { groups: [engineers] }
    approval: { approver_groups: [sre] }
`;

/** An upstream login for planning; no test here connects to a host with it. */
const unusedSshLogin: CredentialProvider = {
  attach() {},
  cleanup: async () => 0,
  retryDue: async () => {},
  pendingDrops: async () => [],
  upstreamFor: async (_grant, resource) => ({ host: '127.0.0.1', port: 22, database: resource.name, user: 'nobody', password: '', ssh: { privateKey: '(unused)', hostKey: { tofu: true } } }),
  close: async () => {},
};

export interface LiveRecorded {
  session: GatewaySession;
  recording: Recording;
  /** Closes the recording and ends the session with its seal (as a front-end does when the client goes). */
  end(reason?: string): Promise<RecordingSeal>;
}

export interface RecordingsAirlock extends InProcessAirlock {
  tokens: Record<'alice' | 'eve' | 'bob' | 'sec', string>;
  /** Opens a recorded session of `principal` on `resource` (its grant requested by them and approved by bob first). */
  open(principal: 'alice' | 'eve', resource: string, title?: string): Promise<LiveRecorded>;
  /** A whole session: each output chunk after its delay (ms), then the end. */
  record(principal: 'alice' | 'eve', resource: string, chunks: [number, string][]): Promise<{ id: string; seal: RecordingSeal }>;
  /** GET with a bearer token; the raw Response. */
  get(token: string, path: string): Promise<Response>;
}

/**
 * Opens recorded terminal sessions on a running in-process Airlock, as the SSH and exec front-ends do, for a principal
 * who holds an active grant on the resource. `token` is theirs: the session logs in with it.
 */
export function terminalSessions(a: InProcessAirlock) {
  const { server } = a;
  const deps: GatewayDeps = {
    access: makeGatewayAccess({ access: server.access, credentials: { ssh: unusedSshLogin, exec: unusedSshLogin } }),
    sessions: server.access.sessions,
    audit: server.audit,
    instance: server.access.bus.origin,
    recordings: server.recordings,
    log: silentLog,
  };
  return async function open(token: string, resource: string, title = 'bash'): Promise<LiveRecorded> {
    const me = await a.api<{ principal: { name: string }; token: { id: string; expires_at: string } }>(token, 'GET', '/api/v1/whoami');
    const protocol = server.access.policy().resource(resource)?.kind === 'exec' ? 'exec' : 'ssh';
    const plan = await deps.access.planSession(server.access.policy().principal(me.principal.name)!, resource, undefined, protocol);
    const session = await openSession(deps, { protocol, plan, source: '127.0.0.1', token: me.token, application_name: 'OpenSSH_9.2' });
    const recording = deps.recordings!.start({ session_id: session.id, width: 80, height: 24, record_input: false, title: `${title} on ${resource}`, env: { TERM: 'xterm-256color', SHELL: '/bin/bash' } });
    let killed: string | null = null;
    session.registered({ kill: (r) => void (killed ??= r), auditLost: () => {} });
    return {
      session,
      recording,
      async end(reason = 'the client closed the connection') {
        const seal = await recording.close();
        await session.end(killed ?? reason, { recording: seal });
        return seal;
      },
    };
  };
}

export async function startRecordingsAirlock(): Promise<RecordingsAirlock> {
  const a = await startAirlock({ policy: RECORDINGS_POLICY });
  const tokens = {} as RecordingsAirlock['tokens'];
  for (const name of ['alice', 'eve', 'bob', 'sec'] as const) tokens[name] = await a.token(name);
  const openTerminal = terminalSessions(a);
  const granted = new Set<string>();

  async function open(principal: 'alice' | 'eve', resource: string, title = 'bash'): Promise<LiveRecorded> {
    if (!granted.has(`${principal}/${resource}`)) {
      await a.grant(tokens[principal], tokens.bob, resource, 'shell', '1h');
      granted.add(`${principal}/${resource}`);
    }
    return openTerminal(tokens[principal], resource, title);
  }

  return {
    ...a,
    tokens,
    open,
    async record(principal, resource, chunks) {
      const live = await open(principal, resource);
      for (const [delay, text] of chunks) {
        if (delay > 0) await sleep(delay);
        live.recording.output(text);
      }
      const seal = await live.end();
      return { id: live.session.id, seal };
    },
    get: (token, path) => fetch(`${a.server.apiUrl}${path}`, { headers: { authorization: `Bearer ${token}` } }),
  };
}
