// One MCP session: an McpServer bound to one principal, with the tools it may use now. Tools for a resource kind are
// listed only while the principal holds an active grant of that kind; grant changes on the access change bus turn
// them on and off, and the client is told (notifications/tools/list_changed). A tool not listed stays callable, and its
// call is refused with AIRLOCK_NO_GRANT and what to do, so an agent holding an old tools/list can recover.
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { Principal } from '../domain/model.js';
import { refusal, type McpDeps } from './context.js';
import { registerAccessTools } from './access-tools.js';
import { registerSqlTools } from './sql-tools.js';
import { registerExecTools } from './exec-tools.js';
import type { HeldStatements } from '../access/held-statements.js';
import { listOnly, makeToolHost } from './tool-host.js';
import { makeGatewayPool } from '../access/gateway-pool.js';

export const INSTRUCTIONS = `Airlock gives time-bound, approved and audited access to production systems; nobody holds standing access.
You start with four tools: list_resources (what you may ask for, with each role's limits and approval rule), request_access (ask for a role on a resource for a duration, with a reason), access_status (wait for a person's decision) and list_grants (what you hold now, until when).
More tools appear once you hold an active grant, and the server says so with notifications/tools/list_changed: query and describe_database for postgres resources, exec for exec and ssh resources, review_status when a statement waits for a person's review. They go away when the grant expires or is revoked.
So: list_resources → request_access {resource, role, duration, reason} → if pending, access_status {request_id} → query / exec. Ask for the least access for the shortest time; every call is audited under your principal, and refusals start with a stable code (AIRLOCK_…).`;

export interface McpSession {
  server: McpServer;
  principal: string;
  /** Recomputes which tools are listed (after a call, or when grants change). */
  refreshTools(): Promise<void>;
  /** Tool calls made in this session so far. */
  calls(): number;
  close(): Promise<void>;
}

/** Why a tool is not listed, and what the agent does about it: the refusal a call of it answers. */
const HIDDEN: Record<string, string> = {
  query: 'query needs an active grant on a postgres resource — list_resources shows what you may request; request one with request_access',
  describe_database: 'describe_database needs an active grant on a postgres resource — list_resources shows what you may request; request one with request_access',
  exec: 'exec needs an active grant on an exec or ssh resource — list_resources shows what you may request; request one with request_access',
  review_status: 'review_status needs a statement held for review, or an active grant whose role reviews statements — query answers a review_id when the gateway holds a statement; list_resources shows which roles review statements',
};

export function makeMcpSession(deps: McpDeps, held: HeldStatements, principal: Principal, sessionId: () => string | undefined): McpSession {
  const { access } = deps;
  const server = new McpServer({ name: 'airlock', title: 'Airlock', version: deps.version }, { instructions: INSTRUCTIONS, capabilities: { logging: {}, tools: { listChanged: true } } });
  let calls = 0;
  let refreshing: Promise<void> = Promise.resolve();
  // The tools for a resource kind, listed only while a grant allows them; the access tools are always listed.
  const listed = new Set<string>(['list_resources', 'request_access', 'access_status', 'list_grants']);
  const pool = makeGatewayPool();
  const host = makeToolHost(server, deps, {
    id: sessionId,
    calls: () => {
      calls++;
    },
    async hidden(tool) {
      if (listed.has(tool)) return null;
      // The list may lag a grant just approved by a change still on its way: look again before refusing.
      await refreshTools();
      return listed.has(tool) ? null : refusal('AIRLOCK_NO_GRANT', HIDDEN[tool] ?? `${tool} is not available to you now`);
    },
    // A query the gateway holds makes review_status appear; a settled one may make it go.
    after: (tool) => {
      if (tool === 'query' || tool === 'review_status') void refreshTools();
    },
  });
  registerAccessTools(host);
  registerSqlTools(host, held, pool);
  registerExecTools(host);
  listOnly(server, host.registered, (name) => listed.has(name));

  async function computeTools(): Promise<void> {
    const policy = access.policy();
    const now = access.clock.now().getTime();
    const grants = (await access.grants.list({ principal: principal.name, status: 'active' })).filter((g) => Date.parse(g.expires_at) > now);
    const kinds = new Set(grants.map((g) => policy.resource(g.resource)?.kind));
    const reviewed = grants.some((g) => (policy.role(g.role)?.review?.statements ?? 'none') !== 'none');
    const want: Record<string, boolean> = {
      query: kinds.has('postgres'),
      describe_database: kinds.has('postgres'),
      exec: kinds.has('exec') || kinds.has('ssh'),
      review_status: reviewed || held.count(principal.name) > 0,
    };
    let changed = false;
    for (const [tool, on] of Object.entries(want)) {
      if (listed.has(tool) === on) continue;
      changed = true;
      if (on) listed.add(tool);
      else listed.delete(tool);
    }
    // Only on a real change, as the SDK's enable()/disable() would.
    if (changed) server.sendToolListChanged();
  }

  function refreshTools(): Promise<void> {
    // One at a time, so two grant changes in a row cannot leave the older answer in place.
    refreshing = refreshing.then(computeTools).catch((e: unknown) => deps.log?.warn({ err: e }, 'mcp: could not recompute the tool list'));
    return refreshing;
  }

  const unsubscribe = access.bus.subscribe((c) => {
    if ((c.kind === 'grant' && c.principal === principal.name) || c.kind === 'policy') void refreshTools();
    // A pooled gateway connection lives under the grant, role and policy it logged in with: none of them may change
    // under it. (The gateway ends a live session when its grant ends or a lock hits; this does not wait for that.)
    if (c.kind === 'grant' && c.principal === principal.name && c.event !== 'activated') pool.dropGrant(c.id);
    if (c.kind === 'policy' || c.kind === 'lock') void pool.closeIdle();
  });

  return {
    server,
    principal: principal.name,
    refreshTools,
    calls: () => calls,
    async close() {
      unsubscribe();
      void pool.close();
      await server.close().catch(() => {});
    },
  };
}
