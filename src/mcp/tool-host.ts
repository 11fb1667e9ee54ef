// Registers a tool on one MCP session's server with what every call needs around it: the caller of this request, a
// progress channel, refusals as tool errors with their code, and one mcp.tool.call audit event (SQL redacted).
import { performance } from 'node:perf_hooks';
import type { z } from 'zod';
import type { McpServer, RegisteredTool } from '@modelcontextprotocol/sdk/server/mcp.js';
import { normalizeObjectSchema } from '@modelcontextprotocol/sdk/server/zod-compat.js';
import { toJsonSchemaCompat } from '@modelcontextprotocol/sdk/server/zod-json-schema-compat.js';
import { ListToolsRequestSchema, type CallToolResult, type Tool, type ToolAnnotations } from '@modelcontextprotocol/sdk/types.js';
import { AirlockError } from '../domain/errors.js';
import type { Caller } from '../domain/model.js';
import { outcomeOf, refusalOf, type CallAuth, type McpDeps, type Progress } from './context.js';
import { progressOf, type Extra } from './waiting.js';

export interface ToolConfig<S extends z.ZodRawShape> {
  title: string;
  description: string;
  inputSchema: S;
  annotations?: ToolAnnotations;
}

/** What the audit event says about a call: its target resource and its arguments as logged (SQL redacted). */
export type Described<A> = (args: A, call: CallAuth) => { target?: string | null; arguments?: Record<string, unknown> };

export interface ToolHost {
  deps: McpDeps;
  /** Every tool defined so far, by name. */
  registered: Map<string, RegisteredTool>;
  define<S extends z.ZodRawShape>(
    name: string,
    config: ToolConfig<S>,
    run: (args: z.infer<z.ZodObject<S>>, call: CallAuth, extra: Extra, progress: Progress) => Promise<CallToolResult>,
    describe?: Described<z.infer<z.ZodObject<S>>>,
  ): RegisteredTool;
}

/** The caller the HTTP layer authenticated for this very request (it puts them into authInfo.extra). */
export function callAuthOf(extra: Extra): CallAuth {
  const caller = extra.authInfo?.extra?.caller as Caller | undefined;
  const token = extra.authInfo?.token;
  if (!caller || !token) throw new AirlockError('AIRLOCK_UNAUTHENTICATED', 'This MCP call came without an authenticated caller.');
  return { caller, token };
}

/** What the session around the tools does: its id, counting calls, and what happens before and after each call. */
export interface ToolSession {
  id: () => string | undefined;
  calls: () => void;
  /** A tool not listed for the principal now: the refusal its call answers instead of running (null: it runs). */
  hidden?: (tool: string) => Promise<CallToolResult | null>;
  after?: (tool: string) => void;
}

export function makeToolHost(server: McpServer, deps: McpDeps, session: ToolSession): ToolHost {
  const registered = new Map<string, RegisteredTool>();
  return {
    deps,
    registered,
    define(name, config, run, describe) {
      // The SDK's generics over zod 3 and 4 do not narrow here; the arguments were checked by the SDK against inputSchema.
      const handler = async (args: Record<string, unknown>, extra: Extra): Promise<CallToolResult> => {
        const call = callAuthOf(extra);
        const typed = args as Parameters<typeof run>[0];
        const started = performance.now();
        session.calls();
        let result: CallToolResult;
        try {
          result = (await session.hidden?.(name)) ?? (await run(typed, call, extra, progressOf(extra)));
        } catch (e) {
          result = refusalOf(e, deps.log);
        }
        let described: ReturnType<Described<typeof typed>> = {};
        try {
          described = describe?.(typed, call) ?? {};
        } catch {
          described = { arguments: { note: 'the arguments could not be described' } };
        }
        const outcome = outcomeOf(result);
        await deps.access.audit.append({
          actor: call.caller.principal.name,
          action: 'mcp.tool.call',
          target: described.target ?? (typeof args.resource === 'string' ? args.resource : null),
          source: call.caller.source,
          details: { session_id: session.id() ?? null, tool: name, arguments: described.arguments ?? args, outcome, ...(result.isError ? { message: firstText(result).slice(0, 500) } : {}), duration_ms: Math.round(performance.now() - started) },
        }).catch((e: unknown) => deps.log?.error({ err: e }, 'mcp: could not audit a tool call'));
        session.after?.(name);
        return result;
      };
      const tool = server.registerTool(name, { title: config.title, description: config.description, inputSchema: config.inputSchema, annotations: config.annotations }, handler as never);
      registered.set(name, tool);
      return tool;
    },
  };
}

/**
 * Replaces the SDK's tools/list with one that lists only the tools `listed` names now. Every tool stays registered and
 * enabled, so a call of one not listed still reaches its handler and is refused there with a code and what to do
 * (a disabled tool would answer the SDK's bare "Tool query disabled"). The definitions are built as the SDK builds
 * them, once: the tools do not change during a session.
 */
export function listOnly(server: McpServer, tools: Map<string, RegisteredTool>, listed: (tool: string) => boolean): void {
  const definitions = [...tools].map(([name, t]): Tool => {
    const input = normalizeObjectSchema(t.inputSchema);
    return {
      name,
      title: t.title,
      description: t.description,
      inputSchema: (input ? toJsonSchemaCompat(input, { strictUnions: true, pipeStrategy: 'input' }) : { type: 'object', properties: {} }) as Tool['inputSchema'],
      annotations: t.annotations,
      ...(t.execution ? { execution: t.execution } : {}),
      ...(t._meta ? { _meta: t._meta } : {}),
    };
  });
  server.server.setRequestHandler(ListToolsRequestSchema, () => ({ tools: definitions.filter((d) => listed(d.name)) }));
}

function firstText(r: CallToolResult): string {
  const c = r.content[0];
  return c && c.type === 'text' ? c.text : '';
}
