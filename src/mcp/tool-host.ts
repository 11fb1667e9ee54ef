// Registers a tool on one MCP session's server with what every call needs around it: the caller of this request, a
// progress channel, refusals as tool errors with their code, and one mcp.tool.call audit event (SQL redacted).
import { performance } from 'node:perf_hooks';
import type { z } from 'zod';
import type { McpServer, RegisteredTool } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { ToolAnnotations } from '@modelcontextprotocol/sdk/types.js';
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

export function makeToolHost(server: McpServer, deps: McpDeps, session: { id: () => string | undefined; calls: () => void; after?: (tool: string) => void }): ToolHost {
  return {
    deps,
    define(name, config, run, describe) {
      // The SDK's generics over zod 3 and 4 do not narrow here; the arguments were checked by the SDK against inputSchema.
      const handler = async (args: Record<string, unknown>, extra: Extra): Promise<CallToolResult> => {
        const call = callAuthOf(extra);
        const typed = args as Parameters<typeof run>[0];
        const started = performance.now();
        session.calls();
        let result: CallToolResult;
        try {
          result = await run(typed, call, extra, progressOf(extra));
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
      return server.registerTool(name, { title: config.title, description: config.description, inputSchema: config.inputSchema, annotations: config.annotations }, handler as never);
    },
  };
}

function firstText(r: CallToolResult): string {
  const c = r.content[0];
  return c && c.type === 'text' ? c.text : '';
}
