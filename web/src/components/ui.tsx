// Small building blocks every page uses: loading, error and empty states, times, countdowns, copy buttons, badges.
import { createContext, useContext, useEffect, useId, useRef, useState, type ReactNode, type MouseEvent } from 'react';
import { errorText } from '../api/client.js';
import { countdown, formatTime, relative } from '../lib/time.js';

export const NavigateContext = createContext<(path: string) => void>(() => {});

/** An in-console link: a real <a href> (so it opens in a new tab too) that navigates without a reload. */
export function Link(props: { to: string; children: ReactNode; className?: string; 'aria-current'?: 'page' | undefined }) {
  const navigate = useContext(NavigateContext);
  const onClick = (e: MouseEvent<HTMLAnchorElement>) => {
    if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    navigate(props.to);
  };
  return (
    <a href={props.to} onClick={onClick} className={props.className} aria-current={props['aria-current']}>
      {props.children}
    </a>
  );
}

export function Loading(props: { what?: string }) {
  return (
    <p className="state loading" role="status">
      <span className="spinner" aria-hidden="true" /> Loading{props.what ? ` ${props.what}` : ''}…
    </p>
  );
}

export function ErrorNote(props: { error: unknown; retry?: () => void }) {
  return (
    <div className="state error" role="alert">
      <span>{errorText(props.error)}</span>
      {props.retry && (
        <button type="button" className="link" onClick={props.retry}>
          Try again
        </button>
      )}
    </div>
  );
}

export function Empty(props: { children: ReactNode }) {
  return <p className="state empty">{props.children}</p>;
}

/** Shows what loading produced: the error, a first-load spinner, or the content (kept during refreshes). */
export function Loaded<T>(props: { data: T | undefined; error: unknown; loading: boolean; reload?: () => void; what?: string; children: (data: T) => ReactNode }) {
  return (
    <>
      {props.error !== undefined && <ErrorNote error={props.error} retry={props.reload} />}
      {props.data === undefined ? props.error === undefined && <Loading what={props.what} /> : props.children(props.data)}
    </>
  );
}

/** An absolute time in the viewer's zone with a relative hint; the hint updates when `now` does. */
export function Time(props: { date: Date | null; now?: Date; relativeOnly?: boolean }) {
  if (!props.date || Number.isNaN(props.date.getTime())) return <span>–</span>;
  const abs = formatTime(props.date);
  const rel = relative(props.date.getTime() - (props.now ?? new Date()).getTime());
  return (
    <time dateTime={props.date.toISOString()} title={abs}>
      {props.relativeOnly ? rel : `${abs} (${rel})`}
    </time>
  );
}

/** Time left to `until`; `now` makes it re-render each tick, but the reading is taken at render so it is never stale. */
export function Countdown(props: { until: Date; now: Date }) {
  const ms = props.until.getTime() - Math.max(props.now.getTime(), Date.now());
  return (
    <span className={`countdown${ms < 60_000 ? ' soon' : ''}`} data-testid="countdown" title={`until ${formatTime(props.until)}`}>
      {ms > 0 ? `${countdown(ms)} left` : 'ending…'}
    </span>
  );
}

async function copyText(text: string): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    // Without the async clipboard (plain http on another host): copy from a hidden text area.
    const ta = document.createElement('textarea');
    ta.value = text;
    ta.setAttribute('readonly', '');
    ta.style.position = 'fixed';
    ta.style.opacity = '0';
    document.body.appendChild(ta);
    ta.select();
    const ok = document.execCommand('copy');
    ta.remove();
    return ok;
  }
}

export function CopyButton(props: { text: string; label: string }) {
  const [state, setState] = useState<'idle' | 'copied' | 'failed'>('idle');
  const timer = useRef<ReturnType<typeof setTimeout>>(undefined);
  useEffect(() => () => clearTimeout(timer.current), []);
  const onClick = async () => {
    setState((await copyText(props.text)) ? 'copied' : 'failed');
    clearTimeout(timer.current);
    timer.current = setTimeout(() => setState('idle'), 2000);
  };
  return (
    <button type="button" className="small" onClick={() => void onClick()} aria-label={props.label}>
      <span aria-live="polite">{state === 'copied' ? 'Copied' : state === 'failed' ? 'Select and copy' : 'Copy'}</span>
    </button>
  );
}

/** A command or connection string with its copy button. */
export function CopyLine(props: { label: string; text: string; testId?: string }) {
  const id = useId();
  return (
    <div className="copyline">
      <span className="copyline-label" id={id}>
        {props.label}
      </span>
      <code aria-labelledby={id} data-testid={props.testId}>
        {props.text}
      </code>
      <CopyButton text={props.text} label={`Copy ${props.label.toLowerCase()}`} />
    </div>
  );
}

export type Tone = 'neutral' | 'good' | 'warn' | 'bad' | 'info';

/**
 * A table that stacks into labelled cards on narrow screens (class `stack`; each cell carries its data-label). A
 * column given as `{ hidden: … }` has a header only screen readers read (an actions column). Rows are the children.
 */
export function DataTable(props: { columns: (string | { hidden: string })[]; className?: string; children: ReactNode }) {
  return (
    <div className="table-wrap">
      <table className={props.className ? `stack ${props.className}` : 'stack'}>
        <thead>
          <tr>
            {props.columns.map((c) =>
              typeof c === 'string' ? (
                <th scope="col" key={c}>
                  {c}
                </th>
              ) : (
                <th scope="col" key={c.hidden}>
                  <span className="visually-hidden">{c.hidden}</span>
                </th>
              ),
            )}
          </tr>
        </thead>
        <tbody>{props.children}</tbody>
      </table>
    </div>
  );
}

export function Badge(props: { tone?: Tone; children: ReactNode; title?: string }) {
  return (
    <span className={`badge ${props.tone ?? 'neutral'}`} title={props.title}>
      {props.children}
    </span>
  );
}

const STATUS_TONES: Record<string, Tone> = { pending: 'info', approved: 'good', active: 'good', denied: 'bad', revoked: 'bad', cancelled: 'neutral', timed_out: 'warn', expired: 'neutral', allowed: 'good', refused: 'bad' };

export function StatusBadge(props: { status: string }) {
  return (
    <Badge tone={STATUS_TONES[props.status] ?? 'neutral'}>
      <span data-testid="status">{props.status.replace('_', ' ')}</span>
    </Badge>
  );
}

export function Section(props: { title: string; id?: string; actions?: ReactNode; children: ReactNode; count?: number }) {
  const headingId = useId();
  return (
    <section className="panel" aria-labelledby={headingId} id={props.id}>
      <header className="panel-head">
        <h2 id={headingId}>
          {props.title}
          {props.count !== undefined && props.count > 0 && <span className="count">{props.count}</span>}
        </h2>
        {props.actions && <div className="panel-actions">{props.actions}</div>}
      </header>
      {props.children}
    </section>
  );
}

/** A labelled control with an optional hint and error, linked for screen readers. */
export function Field(props: { label: string; hint?: ReactNode; error?: string | null; children: (ids: { id: string; describedBy: string | undefined; invalid: boolean }) => ReactNode; required?: boolean; className?: string }) {
  const id = useId();
  const hintId = `${id}-hint`;
  const errId = `${id}-err`;
  // An error that already says what the hint says (a role's reason hint) replaces it, so it is read once.
  const hint = props.hint && !(props.error && typeof props.hint === 'string' && props.error.includes(props.hint)) ? props.hint : null;
  const describedBy = [hint ? hintId : '', props.error ? errId : ''].filter(Boolean).join(' ') || undefined;
  return (
    <div className={props.className ? `field ${props.className}` : 'field'}>
      <label htmlFor={id}>
        {props.label}
        {props.required && <span className="req" aria-hidden="true"> *</span>}
      </label>
      {props.children({ id, describedBy, invalid: Boolean(props.error) })}
      {hint && (
        <p className="hint" id={hintId}>
          {hint}
        </p>
      )}
      {props.error && (
        <p className="field-error" id={errId}>
          {props.error}
        </p>
      )}
    </div>
  );
}

/** Runs an action from a button: disables it while running and shows the API's sentence if it fails. */
export function useAction<A extends unknown[]>(fn: (...args: A) => Promise<unknown>): { run: (...args: A) => Promise<boolean>; busy: boolean; error: unknown; clear(): void } {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(undefined);
  const mounted = useRef(true);
  useEffect(() => {
    mounted.current = true;
    return () => {
      mounted.current = false;
    };
  }, []);
  return {
    busy,
    error,
    clear: () => setError(undefined),
    async run(...args: A) {
      setBusy(true);
      setError(undefined);
      try {
        await fn(...args);
        return true;
      } catch (e) {
        if (mounted.current) setError(e);
        return false;
      } finally {
        if (mounted.current) setBusy(false);
      }
    },
  };
}
