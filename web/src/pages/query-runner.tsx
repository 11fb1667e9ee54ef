// The query runner on a grant's card (My access): SQL typed here runs through Airlock's PostgreSQL gateway under the
// grant, with the role's guardrails, masking, max_rows, statement review and audit, as it would from psql.
import { useEffect, useId, useRef, useState, type KeyboardEvent } from 'react';
import { errorCode, errorText, getJson, postDownload, postJson } from '../api/client.js';
import type { Grant } from '../api/models.js';
import { makeResultPage, makeRunOutcome, type ResultPage, type RunOutcome } from '../api/query-models.js';
import { subscribeLive } from '../api/live.js';
import { api, page as pages } from '../api/urls.js';
import { Link } from '../components/ui.js';
import { formatMs } from '../lib/time.js';

const PAGE = 100;

/** A thrown API error as the runner shows errors: its code and its sentence. */
function failure(e: unknown): RunOutcome {
  return { status: 'error', code: errorCode(e) ?? 'AIRLOCK_UNREACHABLE', message: errorText(e), elapsedMs: 0 };
}

export function QueryRunner(props: { grant: Grant }) {
  const g = props.grant;
  const ids = useId();
  const [sql, setSql] = useState('');
  const [database, setDatabase] = useState('');
  const [startedAt, setStartedAt] = useState<number | null>(null);
  const [now, setNow] = useState(Date.now());
  const [outcome, setOutcome] = useState<RunOutcome | null>(null);
  /** The statement of the result shown (what Export CSV exports) and of a held one (what runs once approved). */
  const [ran, setRan] = useState<{ sql: string; database: string | null } | null>(null);
  const [paging, setPaging] = useState(false);
  const [exporting, setExporting] = useState(false);
  const [exported, setExported] = useState<{ ok: string } | { error: unknown } | null>(null);
  const mounted = useRef(true);
  useEffect(() => {
    mounted.current = true;
    return () => {
      mounted.current = false;
    };
  }, []);

  useEffect(() => {
    if (startedAt === null) return;
    const t = setInterval(() => setNow(Date.now()), 100);
    return () => clearInterval(t);
  }, [startedAt]);

  const where = () => ({ grant_id: g.id, ...(database.trim() ? { database: database.trim() } : {}) });

  async function run(text = sql, reviewId?: string) {
    if (!text.trim() || startedAt !== null) return;
    const db = database.trim() || null;
    setStartedAt(Date.now());
    setNow(Date.now());
    setExported(null);
    let o: RunOutcome;
    try {
      o = await postJson(api.queryRun(), { ...where(), sql: text, limit: PAGE, ...(reviewId ? { review_id: reviewId } : {}) }, makeRunOutcome);
    } catch (e) {
      o = failure(e);
    }
    if (!mounted.current) return;
    setStartedAt(null);
    setOutcome(o);
    setRan({ sql: text, database: db });
  }

  // A held statement: once its review is decided, ask for its outcome (it runs here, once, when approved).
  const heldId = outcome?.status === 'pending_review' ? outcome.reviewId : null;
  useEffect(() => {
    if (!heldId || !ran) return;
    return subscribeLive((c) => {
      if (c === null || (c.kind === 'statement_review' && c.id === heldId)) void run(ran.sql, heldId);
    });
  }, [heldId, ran]);

  async function cancel() {
    try {
      await postJson(api.queryCancel(), { ...where(), ...(heldId ? { review_id: heldId } : {}) }, (j) => j);
    } catch (e) {
      setOutcome(failure(e));
    }
  }

  async function turn(to: number) {
    if (outcome?.status !== 'ok') return;
    setPaging(true);
    try {
      const p = await getJson(api.queryResult(outcome.page.resultId, to, PAGE), makeResultPage);
      if (mounted.current) setOutcome({ status: 'ok', page: p });
    } catch (e) {
      if (mounted.current) setOutcome(failure(e));
    } finally {
      if (mounted.current) setPaging(false);
    }
  }

  async function exportCsv() {
    if (!ran) return;
    setExporting(true);
    setExported(null);
    try {
      const f = await postDownload(api.queryExport(), { grant_id: g.id, sql: ran.sql, ...(ran.database ? { database: ran.database } : {}) }, `${g.resource}.csv`);
      if (mounted.current) setExported({ ok: `Saved ${f.name}.` });
    } catch (e) {
      if (mounted.current) setExported({ error: e });
    } finally {
      if (mounted.current) setExporting(false);
    }
  }

  const onKeyDown = (e: KeyboardEvent<HTMLTextAreaElement>) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      void run();
    }
  };

  const running = startedAt !== null;
  return (
    <section className="runner" aria-label={`Query ${g.resource}`} data-testid="query-runner">
      <div className="field">
        <label htmlFor={`${ids}-sql`}>SQL on {g.resource}</label>
        <textarea id={`${ids}-sql`} className="sql-editor" rows={5} value={sql} spellCheck={false} autoCapitalize="off" autoCorrect="off" onChange={(e) => setSql(e.target.value)} onKeyDown={onKeyDown} aria-describedby={`${ids}-hint`} maxLength={60_000} />
        <p className="hint" id={`${ids}-hint`}>
          Ctrl+Enter (⌘+Enter on a Mac) runs. Runs through the Airlock gateway as you, with your role's rules; every statement is audited.
        </p>
      </div>
      <div className="row runner-controls">
        <div className="field database">
          <label htmlFor={`${ids}-db`}>Database (optional)</label>
          <input id={`${ids}-db`} value={database} onChange={(e) => setDatabase(e.target.value)} placeholder="the resource's own" maxLength={63} />
        </div>
        <div className="actions end">
          <button type="button" className="primary" onClick={() => void run()} disabled={running || !sql.trim()}>
            Run
          </button>
          {outcome?.status === 'ok' && ran && (
            <button type="button" onClick={() => void exportCsv()} disabled={exporting || running}>
              {exporting ? 'Exporting…' : 'Export CSV'}
            </button>
          )}
        </div>
      </div>
      <div role="status" aria-live="polite" className="runner-status" data-testid="runner-status">
        {running ? (
          <span className="running">
            <span className="spinner" aria-hidden="true" /> Running… {formatMs(now - startedAt)}{' '}
            <button type="button" className="small danger-outline" onClick={() => void cancel()}>
              Cancel
            </button>
          </span>
        ) : (
          outcome && <Summary outcome={outcome} />
        )}
        {exported && ('ok' in exported ? <span className="muted small"> {exported.ok}</span> : null)}
      </div>
      {exported && 'error' in exported && <Problem code={errorCode(exported.error) ?? 'AIRLOCK_UNREACHABLE'} message={errorText(exported.error)} what="Export failed" />}
      {!running && outcome?.status === 'pending_review' && (
        <div className="notice" data-testid="runner-held">
          Held for review <strong>{outcome.reviewId}</strong>: {outcome.message}{' '}
          <Link to={pages.reviews()}>See the review</Link>{' '}
          <button type="button" className="small" onClick={() => void cancel()}>
            Withdraw
          </button>
        </div>
      )}
      {!running && (outcome?.status === 'error' || outcome?.status === 'cancelled') && <Problem code={outcome.code} message={outcome.message} what={outcome.status === 'cancelled' ? 'Cancelled' : 'Error'} />}
      {outcome?.status === 'ok' && <ResultTable page={outcome.page} busy={paging || running} onTurn={(to) => void turn(to)} />}
    </section>
  );
}

function Summary(props: { outcome: RunOutcome }) {
  const o = props.outcome;
  if (o.status === 'pending_review') return <span>Waiting for a reviewer.</span>;
  if (o.status !== 'ok') return <span>{o.status === 'cancelled' ? 'Cancelled' : 'Failed'} after {formatMs(o.elapsedMs)}.</span>;
  const p = o.page;
  return (
    <span data-testid="runner-summary">
      {p.command ?? 'Done'} · {p.rowCount} {p.rowCount === 1 ? 'row' : 'rows'} · {formatMs(p.elapsedMs)}
    </span>
  );
}

function Problem(props: { code: string; message: string; what: string }) {
  return (
    <div className="state error" role="alert" data-testid="runner-error">
      <span>
        {props.what}: <code className="error-code">{props.code}</code> {props.message}
      </span>
    </div>
  );
}

function ResultTable(props: { page: ResultPage; busy: boolean; onTurn: (offset: number) => void }) {
  const p = props.page;
  const id = useId();
  if (p.columns.length === 0) return null;
  const first = p.rowCount === 0 ? 0 : p.offset + 1;
  const last = p.offset + p.rows.length;
  return (
    <div className="runner-result">
      {p.truncatedBy === 'max_rows' && (
        <p className="notice small" data-testid="runner-truncated">
          Only the first {p.maxRows ?? p.rowCount} rows: your role's max_rows guardrail cut the result. Add a LIMIT or narrow the WHERE clause.
        </p>
      )}
      {p.truncatedBy === 'runner_limit' && (
        <p className="notice small" data-testid="runner-truncated">
          The console keeps the first {p.rowCount} rows of a result; Export CSV has every row (up to your role's max_rows).
        </p>
      )}
      <div className="table-wrap runner-table" tabIndex={0} aria-labelledby={id}>
        <table>
          <caption id={id} className="visually-hidden">
            Result rows {first} to {last} of {p.rowCount}
          </caption>
          <thead>
            <tr>
              {p.columns.map((c, i) => (
                <th scope="col" key={i}>
                  <span className="col-name">{c.name}</span> <span className="col-type">{c.type}</span>
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {p.rows.map((r, i) => (
              <tr key={p.offset + i}>
                {r.map((v, j) => (
                  <td key={j}>{v === null ? <span className="null">NULL</span> : v}</td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <div className="actions pager">
        <button type="button" className="small" onClick={() => props.onTurn(Math.max(0, p.offset - PAGE))} disabled={props.busy || p.offset === 0}>
          Previous
        </button>
        <span className="small" data-testid="runner-range">
          Rows {first}–{last} of {p.rowCount}
        </span>
        <button type="button" className="small" onClick={() => props.onTurn(p.offset + p.rows.length)} disabled={props.busy || !p.more}>
          Next
        </button>
      </div>
    </div>
  );
}
