// One server-sent-events stream per signed-in console (/api/v1/events, with the session cookie), shared by every page.
import { makeChange, type Change } from './models.js';
import { api } from './urls.js';

export type LiveStatus = 'connecting' | 'live' | 'reconnecting' | 'off';

/** `null` means "the stream was interrupted: refetch what you show", since changes may have been missed. */
type Listener = (change: Change | null) => void;

const listeners = new Set<Listener>();
const statusListeners = new Set<(s: LiveStatus) => void>();
let source: EventSource | null = null;
let status: LiveStatus = 'off';
let wasLive = false;

function setStatus(s: LiveStatus): void {
  status = s;
  for (const fn of statusListeners) fn(s);
}

function emit(c: Change | null): void {
  for (const fn of listeners) fn(c);
}

export function startLive(): void {
  if (source) return;
  setStatus('connecting');
  wasLive = false;
  const es = new EventSource(api.events());
  source = es;
  es.onopen = () => {
    if (wasLive) emit(null);
    wasLive = true;
    setStatus('live');
  };
  es.onerror = () => setStatus(es.readyState === EventSource.CLOSED ? 'off' : 'reconnecting');
  for (const kind of ['request', 'grant', 'lock', 'session', 'policy', 'statement_review']) {
    es.addEventListener(kind, (ev) => {
      try {
        const c = makeChange(JSON.parse((ev as MessageEvent<string>).data));
        if (c) emit(c);
      } catch {
        emit(null);
      }
    });
  }
}

export function stopLive(): void {
  source?.close();
  source = null;
  setStatus('off');
}

export function subscribeLive(fn: Listener): () => void {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

export function onLiveStatus(fn: (s: LiveStatus) => void): () => void {
  statusListeners.add(fn);
  fn(status);
  return () => statusListeners.delete(fn);
}
