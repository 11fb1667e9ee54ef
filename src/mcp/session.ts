// One MCP session: an McpServer bound to one principal, with the tools it may use now. Tools for a resource kind are
// listed only while the principal holds an active grant of that kind; grant changes on the access change bus turn
// them on and off, and the SDK tells the client (notifications/tools/list_changed).
import { McpServer, type RegisteredTool } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { Principal } from '../domain/model.js';
import type { McpDeps } from './context.js';
import { registerAccessTools } from './access-tools.js';
import { registerSqlTools } from './sql-tools.js';
import { registerExecTools } from './exec-tools.js';
import type { HeldStatements } from './held-statements.js';
import { makeToolHost } from './tool-host.js';

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

export function makeMcpSession(deps: McpDeps, held: HeldStatements, principal: Principal, sessionId: () => string | undefined): McpSession {
  const { access } = deps;
  const server = new McpServer({ name: 'airlock', title: 'Airlock', version: deps.version }, { instructions: INSTRUCTIONS, capabilities: { logging: {}, tools: { listChanged: true } } });
  let calls = 0;
  let refreshing: Promise<void> = Promise.resolve();
  const host = makeToolHost(server, deps, {
    id: sessionId,
    calls: () => {
      calls++;
    },
    // A query the gateway holds makes review_status appear; a settled one may make it go.
    after: (tool) => {
      if (tool === 'query' || tool === 'review_status') void refreshTools();
    },
  });
  registerAccessTools(host);
  const sql = registerSqlTools(host, held);
  const exec = registerExecTools(host);

  const set = (t: RegisteredTool, on: boolean) => {
    // enable()/disable() each send list_changed: only on a real change.
    if (t.enabled === on) return;
    if (on) t.enable();
    else t.disable();
  };

  async function computeTools(): Promise<void> {
    const policy = access.policy();
    const now = access.clock.now().getTime();
    const grants = (await access.grants.list({ principal: principal.name, status: 'active' })).filter((g) => Date.parse(g.expires_at) > now);
    const kinds = new Set(grants.map((g) => policy.resource(g.resource)?.kind));
    const reviewed = grants.some((g) => (policy.role(g.role)?.review?.statements ?? 'none') !== 'none');
    set(sql.query, kinds.has('postgres'));
    set(sql.describe, kinds.has('postgres'));
    set(exec, kinds.has('exec') || kinds.has('ssh'));
    set(sql.reviewStatus, reviewed || held.count(principal.name) > 0);
  }

  function refreshTools(): Promise<void> {
    // One at a time, so two grant changes in a row cannot leave the older answer in place.
    refreshing = refreshing.then(computeTools).catch((e: unknown) => deps.log?.warn({ err: e }, 'mcp: could not recompute the tool list'));
    return refreshing;
  }

  const unsubscribe = access.bus.subscribe((c) => {
    if ((c.kind === 'grant' && c.principal === principal.name) || c.kind === 'policy') void refreshTools();
  });

  return {
    server,
    principal: principal.name,
    refreshTools,
    calls: () => calls,
    async close() {
      unsubscribe();
      await server.close().catch(() => {});
    },
  };
}
