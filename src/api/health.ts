// Probes for load balancers and orchestrators: /healthz (the process answers) and /readyz (it can serve), no auth.
import type { FastifyInstance, FastifyReply } from 'fastify';

export interface ReadinessCheck {
  ok: boolean;
  /** What was seen, for the server's log (never the anonymous answer): "policy 3f2a…", "the audit writer failed: …". */
  detail: string;
}

/** Named checks, each run on every /readyz; one that throws counts as failed with its message. */
export type Readiness = Record<string, () => Promise<ReadinessCheck> | ReadinessCheck>;

/** A probe that hangs is a failed probe: each check gets this long. */
const CHECK_TIMEOUT_MS = 2_000;

async function runCheck(check: () => Promise<ReadinessCheck> | ReadinessCheck): Promise<ReadinessCheck> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      Promise.resolve().then(check),
      new Promise<ReadinessCheck>((resolve) => {
        timer = setTimeout(() => resolve({ ok: false, detail: `no answer within ${CHECK_TIMEOUT_MS / 1000} s` }), CHECK_TIMEOUT_MS);
      }),
    ]);
  } catch (e) {
    return { ok: false, detail: e instanceof Error ? e.message : String(e) };
  } finally {
    clearTimeout(timer);
  }
}

/** The liveness answer, for /healthz and /api/v1/healthz alike. */
export function healthz(version: string, reply: FastifyReply): FastifyReply {
  return reply.header('cache-control', 'no-store').send({ ok: true, version });
}

/** What an anonymous caller reads of a failed check; the server's log has what was seen (paths, hosts, errors). */
const FAILING = 'failing; the server log says why';

export function registerHealth(app: FastifyInstance, deps: { version: string; readiness?: Readiness }): void {
  /** The checks failing now, with what was logged for them: a failure is logged when it starts, not on every probe. */
  const failingNow = new Map<string, string>();
  function logChange(name: string, r: ReadinessCheck): void {
    if (!r.ok && failingNow.get(name) !== r.detail) {
      failingNow.set(name, r.detail);
      app.log.warn({ check: name, detail: r.detail }, 'readiness check failing');
    } else if (r.ok && failingNow.delete(name)) {
      app.log.warn({ check: name }, 'readiness check passes again');
    }
  }

  app.get('/healthz', { schema: { hide: true } }, async function healthzRoute(_req, reply) {
    return healthz(deps.version, reply);
  });
  app.get('/readyz', { schema: { hide: true } }, async function readyz(_req, reply) {
    const names = Object.keys(deps.readiness ?? {});
    const results = await Promise.all(names.map((n) => runCheck(deps.readiness![n]!)));
    names.forEach((n, i) => logChange(n, results[i]!));
    const checks = Object.fromEntries(names.map((n, i) => [n, { ok: results[i]!.ok, detail: results[i]!.ok ? 'ok' : FAILING }]));
    const failing = names.filter((_n, i) => !results[i]!.ok);
    reply.header('cache-control', 'no-store');
    if (failing.length === 0) return reply.send({ ok: true, version: deps.version, checks });
    return reply.status(503).send({
      ok: false,
      code: 'AIRLOCK_NOT_READY',
      detail: `Not ready: ${failing.join(', ')}. The server log says why.`,
      failing,
      version: deps.version,
      checks,
    });
  });
}
