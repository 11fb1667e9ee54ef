// React hooks the pages share: loading data with live refresh, a ticking clock, and the current route.
import { useCallback, useEffect, useRef, useState } from 'react';
import { subscribeLive } from '../api/live.js';
import type { Change } from '../api/models.js';
import { routeOf, type Route } from '../api/urls.js';

export interface Loaded<T> {
  data: T | undefined;
  error: unknown;
  loading: boolean;
  reload(): void;
}

export interface LoadOptions {
  /** Refetch when a live change of these kinds arrives (and after the stream was interrupted). */
  live?: Change['kind'][];
  /** Refetch every so many ms while the page is open. */
  pollMs?: number;
}

/** Loads data and keeps it fresh; the last good data stays on screen while a refetch runs or fails. */
export function useLoad<T>(load: (signal: AbortSignal) => Promise<T>, deps: unknown[], opts: LoadOptions = {}): Loaded<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<unknown>(undefined);
  const [loading, setLoading] = useState(true);
  const [nonce, setNonce] = useState(0);
  const loadRef = useRef(load);
  loadRef.current = load;
  const reload = useCallback(() => setNonce((n) => n + 1), []);

  useEffect(() => {
    const ctl = new AbortController();
    setLoading(true);
    loadRef
      .current(ctl.signal)
      .then((d) => {
        if (ctl.signal.aborted) return;
        setData(d);
        setError(undefined);
      })
      .catch((e: unknown) => {
        if (!ctl.signal.aborted) setError(e);
      })
      .finally(() => {
        if (!ctl.signal.aborted) setLoading(false);
      });
    return () => ctl.abort();
  }, [...deps, nonce]);

  const kinds = (opts.live ?? []).join(',');
  useEffect(() => {
    if (!kinds) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const wanted = kinds.split(',');
    const off = subscribeLive((c) => {
      if (c && !wanted.includes(c.kind)) return;
      clearTimeout(timer);
      timer = setTimeout(reload, 100);
    });
    return () => {
      clearTimeout(timer);
      off();
    };
  }, [kinds, reload]);

  useEffect(() => {
    if (!opts.pollMs) return;
    const t = setInterval(reload, opts.pollMs);
    return () => clearInterval(t);
  }, [opts.pollMs, reload]);

  return { data, error, loading, reload };
}

/** The current time, re-read every `everyMs` (countdowns and relative times). */
export function useNow(everyMs = 1000): Date {
  const [now, setNow] = useState(() => new Date());
  useEffect(() => {
    const t = setInterval(() => setNow(new Date()), everyMs);
    return () => clearInterval(t);
  }, [everyMs]);
  return now;
}

/** The console's route from the location, and a way to go elsewhere without a reload. */
export function useRoute(): [Route, (path: string) => void] {
  const [route, setRoute] = useState<Route>(() => routeOf(window.location.pathname));
  useEffect(() => {
    const onPop = () => setRoute(routeOf(window.location.pathname));
    window.addEventListener('popstate', onPop);
    return () => window.removeEventListener('popstate', onPop);
  }, []);
  const navigate = useCallback((path: string) => {
    if (path !== window.location.pathname + window.location.search) window.history.pushState(null, '', path);
    setRoute(routeOf(path.split('?')[0]!));
    window.scrollTo(0, 0);
  }, []);
  return [route, navigate];
}
