// A small Slack Web API client: bearer token, JSON bodies, `ok: false` answers turned into retryable or permanent
// failures (Retry-After honoured), and the few methods Airlock uses.

export type SlackAnswer =
  | { ok: true; body: Record<string, unknown> }
  | { ok: false; error: string; retryable: boolean; retryAfterMs?: number };

/** Errors that will not go away by asking again: the app, its token or the channel must be fixed first. */
const PERMANENT = new Set([
  'invalid_auth', 'not_authed', 'account_inactive', 'token_revoked', 'token_expired', 'no_permission', 'missing_scope', 'not_allowed_token_type',
  'channel_not_found', 'not_in_channel', 'is_archived', 'msg_too_long', 'no_text', 'invalid_blocks', 'invalid_arguments', 'invalid_arg_name',
  'message_not_found', 'cant_update_message', 'edit_window_closed', 'user_not_found', 'users_not_found', 'expired_trigger_id', 'invalid_trigger_id',
  'restricted_action', 'team_access_not_granted', 'ekm_access_denied', 'invalid_json', 'json_not_object',
]);

export interface SlackApiOptions {
  /** The Web API's base URL, e.g. https://slack.com/api. */
  apiUrl: string;
  /** The bot token (xoxb-…), read when a call is made so a rotated secret is picked up. */
  token: () => string;
  timeoutMs?: number;
}

function retryAfterMs(h: string | null): number | undefined {
  const s = h === null ? NaN : Number(h);
  return Number.isFinite(s) && s >= 0 ? Math.min(s, 3600) * 1000 : undefined;
}

export function makeSlackApi(opts: SlackApiOptions) {
  const base = opts.apiUrl.replace(/\/+$/, '');
  const timeoutMs = opts.timeoutMs ?? 10_000;

  /** One call. GET for read methods that take no JSON (users.info), POST with a JSON body for the rest. */
  async function call(method: string, args: Record<string, unknown>, signal?: AbortSignal, how: 'json' | 'query' = 'json'): Promise<SlackAnswer> {
    const timeout = AbortSignal.timeout(timeoutMs);
    const headers: Record<string, string> = { authorization: `Bearer ${opts.token()}` };
    let url = `${base}/${method}`;
    let init: RequestInit;
    if (how === 'query') {
      url += `?${new URLSearchParams(Object.entries(args).map(([k, v]) => [k, String(v)])).toString()}`;
      init = { method: 'GET', headers };
    } else {
      init = { method: 'POST', headers: { ...headers, 'content-type': 'application/json; charset=utf-8' }, body: JSON.stringify(args) };
    }
    let res: Response;
    try {
      res = await fetch(url, { ...init, signal: signal ? AbortSignal.any([signal, timeout]) : timeout });
    } catch (e) {
      const err = e as Error;
      return { ok: false, retryable: true, error: err.name === 'TimeoutError' ? `Slack did not answer ${method} within ${timeoutMs} ms` : `${method}: ${err.message}` };
    }
    const text = await res.text().catch(() => '');
    const wait = retryAfterMs(res.headers.get('retry-after'));
    if (res.status === 429) return { ok: false, retryable: true, error: `${method}: ratelimited`, ...(wait !== undefined ? { retryAfterMs: wait } : {}) };
    if (res.status >= 500) return { ok: false, retryable: true, error: `${method}: HTTP ${res.status}` };
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(text) as Record<string, unknown>;
    } catch {
      return { ok: false, retryable: res.status >= 500, error: `${method}: HTTP ${res.status}, not a Web API answer` };
    }
    if (body.ok === true) return { ok: true, body };
    const error = typeof body.error === 'string' ? body.error : `HTTP ${res.status}`;
    if (error === 'ratelimited') return { ok: false, retryable: true, error: `${method}: ratelimited`, ...(wait !== undefined ? { retryAfterMs: wait } : {}) };
    return { ok: false, retryable: !PERMANENT.has(error) && res.status !== 400 && res.status !== 401 && res.status !== 403, error: `${method}: ${error}` };
  }

  return {
    call,
    postMessage: (args: Record<string, unknown>, signal?: AbortSignal) => call('chat.postMessage', args, signal),
    update: (args: Record<string, unknown>, signal?: AbortSignal) => call('chat.update', args, signal),
    postEphemeral: (args: Record<string, unknown>, signal?: AbortSignal) => call('chat.postEphemeral', args, signal),
    viewsOpen: (args: Record<string, unknown>, signal?: AbortSignal) => call('views.open', args, signal),
    usersInfo: (user: string, signal?: AbortSignal) => call('users.info', { user }, signal, 'query'),
  };
}

export type SlackApi = ReturnType<typeof makeSlackApi>;
