// The server's Prometheus metrics (docs/metrics.md): one prom-client registry per server, never the global one, and the
// narrow recorders the composition root hands to the gateway, the audit log, the notifier and the API.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics, type Metric } from 'prom-client';
import { sql } from 'kysely';
import type { Access } from './access/access.js';
import type { AuditLog, AuditMetrics } from './audit/audit-log.js';
import type { GatewayMetrics } from './gateway/types.js';
import type { ApiMetrics } from './api/routes-metrics.js';
import type { Grant } from './domain/model.js';

/** Request outcomes counted, pre-set to 0 so that rate() sees every series from the first scrape. */
const REQUEST_OUTCOMES = ['approved', 'break_glass', 'denied', 'cancelled', 'timed_out'] as const;
const GRANT_END_REASONS = ['expired', 'revoked', 'locked', 'break_glass_denied'] as const;

/** Statement duration buckets, in seconds: from a cached point lookup to a report that runs for a minute. */
const STATEMENT_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

interface SampleValue {
  value: number;
  labels: Record<string, string | number>;
  metricName?: string;
}

/**
 * A metric whose values are read, when scraped, from plain fields that the hot path bumps: prom-client's own inc()
 * and observe() hash their labels on every call (about 250 ns, and a string), too much per relayed chunk or statement.
 * The registry only asks a metric for get(); this is that shape.
 */
function sampled(registry: Registry, name: string, help: string, type: 'counter' | 'gauge' | 'histogram', values: () => SampleValue[]): void {
  const get = async () => ({ name, help, type, aggregator: 'sum' as const, values: values() });
  registry.registerMetric({ name, help, type, aggregator: 'sum', get, reset() {} } as unknown as Metric);
}

/** One gateway's counts (kind = the resources' kind, e.g. postgres), bumped without allocating. */
class GatewayCounts implements GatewayMetrics {
  started = 0;
  readonly refused = new Map<string, number>();
  /** Allowed statements no rule spoke to: nearly all of them, so a field of their own rather than a map entry. */
  allowedNone = 0;
  /** The other statements by rule ('none' when no rule decided), one map per decision. */
  readonly allowed = new Map<string, number>();
  readonly refusedStatements = new Map<string, number>();
  readonly bytes = { toUpstream: 0, toClient: 0 };
  /** Per bucket (not cumulative; the last is +Inf), in milliseconds to match what the relay measures. */
  readonly durationCounts = new Float64Array(STATEMENT_BUCKETS.length + 1);
  private readonly boundsMs = STATEMENT_BUCKETS.map((s) => s * 1000);
  durationSumMs = 0;

  constructor(readonly kind: string) {}

  sessionStarted(): void {
    this.started++;
  }

  sessionRefused(code: string): void {
    this.refused.set(code, (this.refused.get(code) ?? 0) + 1);
  }

  statement(decision: 'allowed' | 'refused', rule: string | null, durationMs: number): void {
    if (decision === 'refused') {
      const key = rule ?? 'none';
      this.refusedStatements.set(key, (this.refusedStatements.get(key) ?? 0) + 1);
      // A refused statement never reached the database: it has no duration to speak of.
      return;
    }
    if (rule === null) this.allowedNone++;
    else this.allowed.set(rule, (this.allowed.get(rule) ?? 0) + 1);
    const b = this.boundsMs;
    let i = 0;
    while (i < b.length && durationMs > b[i]!) i++;
    this.durationCounts[i]!++;
    this.durationSumMs += durationMs;
  }
}

/** How long the store-read gauges (airlock_grants_active, airlock_requests_pending) are kept between scrapes. */
const STORE_GAUGE_TTL_MS = 5_000;

export function makeMetrics(opts: { version: string }) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  // Gauges named like counters, which `promtool check metrics` rejects; each is the sum of its labelled namesake
  // (sum(nodejs_active_handles) is nodejs_active_handles_total).
  for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) registry.removeSingleMetric(name);
  new Gauge({ name: 'airlock_build_info', help: 'Always 1; the version label says which Airlock runs', labelNames: ['version'], registers: [registry] }).set({ version: opts.version }, 1);

  // --- Gateways: plain counts read when scraped.
  const gateways: GatewayCounts[] = [];
  const perGateway = (fn: (g: GatewayCounts) => SampleValue[]) => () => gateways.flatMap(fn);
  const byKey = (m: Map<string, number>, kind: string, label: string, extra: Record<string, string> = {}) => [...m].map(([k, v]) => ({ labels: { kind, ...extra, [label]: k }, value: v }));
  sampled(registry, 'airlock_sessions_started_total', 'Gateway sessions opened (past login, grant found, upstream connected, session.start audited)', 'counter', perGateway((g) => [{ labels: { kind: g.kind }, value: g.started }]));
  sampled(registry, 'airlock_sessions_refused_total', 'Gateway connections refused before a session opened, by Airlock error code (docs/errors.md)', 'counter', perGateway((g) => byKey(g.refused, g.kind, 'code')));
  sampled(registry, 'airlock_statements_total', 'Statements seen by a gateway, by decision and by the guardrail rule that decided (rule="none": no rule applied)', 'counter', perGateway((g) => [
    { labels: { kind: g.kind, decision: 'allowed', rule: 'none' }, value: g.allowedNone },
    ...byKey(g.allowed, g.kind, 'rule', { decision: 'allowed' }),
    ...byKey(g.refusedStatements, g.kind, 'rule', { decision: 'refused' }),
  ]));
  sampled(registry, 'airlock_statement_duration_seconds', 'Time from forwarding an allowed statement to its completion, as the gateway saw it', 'histogram', perGateway((g) => {
    const out: SampleValue[] = [];
    let cumulative = 0;
    for (let i = 0; i <= STATEMENT_BUCKETS.length; i++) {
      cumulative += g.durationCounts[i]!;
      out.push({ metricName: 'airlock_statement_duration_seconds_bucket', labels: { kind: g.kind, le: i < STATEMENT_BUCKETS.length ? STATEMENT_BUCKETS[i]! : '+Inf' }, value: cumulative });
    }
    out.push({ metricName: 'airlock_statement_duration_seconds_sum', labels: { kind: g.kind }, value: g.durationSumMs / 1000 });
    out.push({ metricName: 'airlock_statement_duration_seconds_count', labels: { kind: g.kind }, value: cumulative });
    return out;
  }));
  sampled(registry, 'airlock_gateway_relayed_bytes_total', 'Bytes a gateway wrote to each side of its sessions (direction: to_upstream, to_client)', 'counter', perGateway((g) => [
    { labels: { kind: g.kind, direction: 'to_upstream' }, value: g.bytes.toUpstream },
    { labels: { kind: g.kind, direction: 'to_client' }, value: g.bytes.toClient },
  ]));

  // --- Audit log.
  const auditBatch = new Histogram({ name: 'airlock_audit_batch_events', help: 'Events per batched audit commit (gateway statements and sessions, hot-path API events)', buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500], registers: [registry] });
  const auditCommit = new Histogram({ name: 'airlock_audit_batch_commit_seconds', help: 'Time to commit one batch of audit events, hashing and fsync included', buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30], registers: [registry] });
  const auditFailures = new Counter({ name: 'airlock_audit_batch_failures_total', help: 'Audit batches that could not be committed (their appends failed; gateway sessions waiting on them end)', registers: [registry] });
  const audit: AuditMetrics = {
    batch(events, seconds, ok) {
      if (!ok) return void auditFailures.inc();
      auditBatch.observe(events);
      auditCommit.observe(seconds);
    },
  };

  // --- Webhooks.
  const deliveries = new Counter({ name: 'airlock_webhook_deliveries_total', help: 'Webhook notices delivered or given up on (after retries), by webhook name from the policy and event', labelNames: ['webhook', 'event'], registers: [registry] });
  const deliveryFailures = new Counter({ name: 'airlock_webhook_delivery_failures_total', help: 'Webhook notices given up on after retries (a subset of airlock_webhook_deliveries_total)', labelNames: ['webhook', 'event'], registers: [registry] });

  // --- API.
  const apiDuration = new Histogram({ name: 'airlock_api_request_duration_seconds', help: 'HTTP API and console requests, by route pattern (not the URL) and status code', labelNames: ['method', 'route', 'status_code'], registers: [registry] });
  const api: ApiMetrics = {
    contentType: registry.contentType,
    exposition: () => registry.metrics(),
    requestAnswered(method, route, statusCode, seconds) {
      apiDuration.observe({ method, route, status_code: statusCode }, seconds);
    },
  };

  return {
    registry,
    audit,
    api,

    /** The counts of one protocol front-end; each kind is counted once however often this is called. */
    gateway(kind: string): GatewayMetrics {
      let g = gateways.find((x) => x.kind === kind);
      if (!g) gateways.push((g = new GatewayCounts(kind)));
      return g;
    },

    webhookDelivery(d: { webhook: string; event: string; ok: boolean }): void {
      deliveries.inc({ webhook: d.webhook, event: d.event });
      if (!d.ok) deliveryFailures.inc({ webhook: d.webhook, event: d.event });
    },

    /** Counts what the access services do in this process, and reads the store's gauges when scraped. */
    attach(access: Pick<Access, 'bus' | 'grants' | 'sessions' | 'store'>, auditLog: Pick<AuditLog, 'queued'>): void {
      new Gauge({ name: 'airlock_audit_queued_events', help: 'Audit events waiting for their batch to commit', registers: [registry], collect() { this.set(auditLog.queued); } });
      new Gauge({
        name: 'airlock_sessions_live', help: 'Gateway sessions open in this process, by resource kind', labelNames: ['kind'], registers: [registry],
        collect() {
          this.reset();
          for (const g of gateways) this.set({ kind: g.kind }, 0);
          for (const s of access.sessions.list()) this.inc({ kind: s.protocol });
        },
      });
      // Counted from the store: every process of a cluster reports the same figure (aggregate with max, not sum).
      const count = async (table: 'grants' | 'requests', status: 'active' | 'pending') => {
        const r = await sql<{ n: number }>`select count(*) as n from ${sql.table(table)} where status = ${status}`.execute(access.store.db);
        return Number(r.rows[0]?.n ?? NaN);
      };
      // Anyone may scrape, as often as they like: the store is asked at most every STORE_GAUGE_TTL_MS, unless a grant or
      // request changed meanwhile (here or, through the cluster fan-out, in another process).
      const cached: { at: number }[] = [];
      const fromStore = (name: string, help: string, read: () => Promise<number>) => {
        const c = { at: -Infinity, value: Promise.resolve(NaN) };
        cached.push(c);
        return new Gauge({
          name, help, registers: [registry],
          async collect() {
            if (performance.now() - c.at >= STORE_GAUGE_TTL_MS) {
              c.at = performance.now();
              c.value = read().catch(() => NaN);
            }
            this.set(await c.value);
          },
        });
      };
      fromStore('airlock_grants_active', 'Grants active now, across every process sharing the store (NaN: the store did not answer)', () => count('grants', 'active'));
      fromStore('airlock_requests_pending', 'Requests waiting for a review, across every process sharing the store (NaN: the store did not answer)', () => count('requests', 'pending'));
      access.bus.subscribe((ch) => {
        if (ch.kind === 'grant' || ch.kind === 'request') for (const c of cached) c.at = -Infinity;
      });

      const outcomes = new Counter({ name: 'airlock_request_outcomes_total', help: 'Requests that reached an outcome in this process (approved: by review or by rule; break_glass: granted without review)', labelNames: ['outcome'], registers: [registry] });
      for (const o of REQUEST_OUTCOMES) outcomes.inc({ outcome: o }, 0);
      const counted = new Set<string>(REQUEST_OUTCOMES);
      // Changes another process made arrive here too (cluster.ts); that process counts them.
      access.bus.subscribe((c) => {
        if (c.kind === 'request' && c.origin === undefined && counted.has(c.event)) outcomes.inc({ outcome: c.event });
      });

      const ended = new Counter({ name: 'airlock_grants_ended_total', help: 'Grants ended by this process, by reason (expired, revoked, locked, break_glass_denied)', labelNames: ['reason'], registers: [registry] });
      for (const r of GRANT_END_REASONS) ended.inc({ reason: r }, 0);
      const lag = new Histogram({ name: 'airlock_grant_expiry_lag_seconds', help: 'From a grant\'s expires_at to the moment Airlock ended it (large after downtime: overdue grants end at start)', buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 3600], registers: [registry] });
      access.grants.hooks.ended.push(({ grant }) => {
        const reason = endReason(grant);
        ended.inc({ reason });
        if (reason === 'expired' && grant.ended_at) lag.observe(Math.max(0, Date.parse(grant.ended_at) - Date.parse(grant.expires_at)) / 1000);
      });
    },
  };
}

function endReason(g: Grant): (typeof GRANT_END_REASONS)[number] {
  if (g.status === 'expired') return 'expired';
  if (g.end_reason?.startsWith('lock: ')) return 'locked';
  if (g.end_reason?.startsWith('break-glass denied')) return 'break_glass_denied';
  return 'revoked';
}

export type Metrics = ReturnType<typeof makeMetrics>;
