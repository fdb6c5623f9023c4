/** createTelemetry: queues resilience signals and delivers them to the ingest route, in batches, without loss. */

import { assertSendable, byteLength, textProblem, userIdProblem, type TelemetryEvent } from './event.js';
import { KEEPALIVE_BUDGET, SERVER_LIMITS } from './limits.js';
import { sessionSampled, tabSessionId } from './session.js';
import { methodName, SIGNALS, type Signal, type SignalData, type Tracker } from './signals.js';
import { createStore } from './store.js';

export type { TelemetryEvent } from './event.js';
export { SERVER_LIMITS } from './limits.js';
export { SIGNALS, type Signal, type SignalData, type Tracker, type TrackSignal } from './signals.js';

export interface TelemetryOptions {
  /** The API's base URL (the stack's ApiUrl); events go to `{endpoint}/v1/telemetry`. */
  endpoint: string;
  /** A publishable key, sent as `X-Ingest-Key`. */
  ingestKey?: string;
  /** A signed ingest token your backend minted for the signed-in user (docs/SECURITY.md), sent as
   * `X-Ingest-Token`; a function is asked before each request, so it can hand out a renewed token. */
  ingestToken?: string | (() => string | null | undefined);
  /** Events per request, at most 500; a full batch is sent at once. Default 100. */
  batchSize?: number;
  /** How often queued events are sent. Default 5000 ms. */
  flushIntervalMs?: number;
  /** Events kept while the API cannot be reached; beyond it the oldest are dropped. Default 1000. */
  maxQueue?: number;
  /** The share of sessions that report, from 0 to 1. Default 1. */
  sampleRate?: number;
  /** Hears of events the server refused or rejected and of events this client could not send. */
  onError?: (error: TelemetryError) => void;
  /** Logs what the client does to the console. */
  debug?: boolean;
  /** The first retry's delay; each further retry waits twice as long, with jitter. Default 1000 ms. */
  retryDelayMs?: number;
  /** The longest wait between retries, unless the server's Retry-After asks for more. Default 60000 ms. */
  maxRetryDelayMs?: number;
}

export interface TelemetryError {
  /** invalid: refused before queueing (bad component, data, user or session id, too large);
   * rejected: the server rejected these events (`errors` says why); refused: the server refused the whole
   * request (`status`); overflow: dropped from a full queue; storage: localStorage would not hold the queue. */
  kind: 'invalid' | 'rejected' | 'refused' | 'overflow' | 'storage';
  message: string;
  status?: number;
  events?: TelemetryEvent[];
  errors?: { field: string; reason: string }[];
}

export interface Telemetry {
  track: Tracker;
  /** A UUID (the server's user_id); null clears it. Anything else is reported to onError and clears it. */
  setUserId(userId: string | null | undefined): void;
  /** Replaces the per-tab session id for the signals that follow. */
  setSessionId(sessionId: string): void;
  /** Sends what is queued now, unless the server asked to wait; resolves when those requests are answered. */
  flush(): Promise<void>;
  /** Stops timers and listeners and sends what is queued; what cannot be sent waits for the next page. */
  shutdown(): Promise<void>;
}

interface Batch {
  events: TelemetryEvent[];
  body: string;
  bytes: number;
}

// Network errors count too; other answers are final (400, 413, 422: retrying cannot change them).
const RETRYABLE = [429, 502, 503, 504];
const ENVELOPE_BYTES = '{"events":[]}'.length;

function setting(options: TelemetryOptions, name: keyof TelemetryOptions, fallback: number, max: number): number {
  const value = options[name] ?? fallback;
  if (typeof value !== 'number' || !(value >= (name === 'sampleRate' ? 0 : 1) && value <= max)) {
    throw new RangeError(`${name} must be a number up to ${max}; got ${String(value)}`);
  }
  return value;
}

function retryAfterMs(header: string | null): number | undefined {
  if (!header) return undefined;
  const ms = /^\d+$/.test(header.trim()) ? Number(header) * 1000 : Date.parse(header) - Date.now();
  return Number.isNaN(ms) ? undefined : Math.max(ms, 0);
}

function later(run: () => void, ms: number): ReturnType<typeof setTimeout> {
  const timer = setTimeout(run, ms);
  (timer as { unref?: () => void }).unref?.(); // never keeps a Node process alive
  return timer;
}

export function createTelemetry(options: TelemetryOptions): Telemetry {
  let url: string;
  try {
    url = new URL(options.endpoint, globalThis.location?.href).href.replace(/\/+$/, '') + '/v1/telemetry';
  } catch {
    throw new TypeError(`endpoint must be the API's base URL, like https://api.example.com; got ${options?.endpoint}`);
  }
  const batchSize = setting(options, 'batchSize', 100, SERVER_LIMITS.maxEvents);
  const flushIntervalMs = setting(options, 'flushIntervalMs', 5000, 864e5);
  const maxQueue = setting(options, 'maxQueue', 1000, 1e5);
  const sampleRate = setting(options, 'sampleRate', 1, 1);
  const retryDelayMs = setting(options, 'retryDelayMs', 1000, 864e5);
  const maxRetryDelayMs = setting(options, 'maxRetryDelayMs', 60_000, 864e5);
  const { ingestKey, ingestToken, onError, debug } = options;

  const log = (...what: unknown[]): void => {
    if (debug) console.debug('[resilience-telemetry]', ...what);
  };
  const report = (error: TelemetryError): void => {
    log(error.message);
    try {
      onError?.(error);
    } catch (thrown) {
      log('onError threw', thrown);
    }
  };
  const store = createStore(url, (error) =>
    report({ kind: 'storage', message: `localStorage did not take the queue: ${String(error)}` }),
  );

  let queue: TelemetryEvent[] = [];
  // Ids sent and not yet answered; a beacon gets no answer, so its events stay here until the page is
  // shown again and are then sent once more (the server stores an id once).
  const inFlight = new Set<string>();
  const beaconed = new Set<string>();
  let sessionId = tabSessionId();
  let sampled = sessionSampled(sessionId, sampleRate);
  let userId: string | undefined;
  let failures = 0;
  let retryAt = 0;
  let keepaliveBytes = 0;
  let closed = false;
  let gone = false; // after pagehide: what the page writes is for the next page to take over
  let saving = false;
  let sending: Promise<void> | undefined;
  let soon: ReturnType<typeof setTimeout> | undefined;
  let retry: ReturnType<typeof setTimeout> | undefined;

  const save = (): void => store.save(queue, gone || closed);
  const saveSoon = (): void => {
    if (saving) return;
    saving = true;
    queueMicrotask(() => {
      saving = false;
      save();
    });
  };

  function enqueue(events: TelemetryEvent[]): void {
    const known = new Set(queue.map((e) => e.id));
    queue.push(...events.filter((e) => !known.has(e.id)));
    const excess = queue.length - maxQueue;
    if (excess > 0) {
      // The oldest that are not on their way: those may still be stored.
      const dropped: TelemetryEvent[] = [];
      queue = queue.filter((e) => {
        if (inFlight.has(e.id) || dropped.length >= excess) return true;
        dropped.push(e);
        return false;
      });
      report({ kind: 'overflow', message: `queue full (${maxQueue}): dropped the ${excess} oldest`, events: dropped });
    }
    saveSoon();
    if (queue.length - inFlight.size >= batchSize) soon ??= later(() => void flush(), 0);
  }

  function nextBatch(maxBytes: number): Batch | undefined {
    const events: TelemetryEvent[] = [];
    const parts: string[] = [];
    let bytes = ENVELOPE_BYTES;
    for (const event of queue) {
      if (inFlight.has(event.id)) continue;
      const json = JSON.stringify(event);
      const size = byteLength(json) + 1;
      if (events.length >= batchSize || bytes + size > maxBytes) break;
      events.push(event);
      parts.push(json);
      bytes += size;
    }
    return events.length ? { events, body: `{"events":[${parts.join(',')}]}`, bytes } : undefined;
  }

  function settle(batch: Batch, release = false): void {
    const ids = new Set(batch.events.map((e) => e.id));
    for (const id of ids) inFlight.delete(id);
    if (!release) queue = queue.filter((e) => !ids.has(e.id));
    saveSoon();
  }

  function waitToRetry(header: string | null, why: string): void {
    failures++;
    const ceiling = Math.min(maxRetryDelayMs, retryDelayMs * 2 ** (failures - 1));
    const wait = retryAfterMs(header) ?? ceiling / 2 + (Math.random() * ceiling) / 2;
    retryAt = Date.now() + wait;
    log(`${why}; retry ${failures} in ${Math.round(wait)} ms`);
    clearTimeout(retry);
    // Timers may fire a little before Date.now() reaches retryAt: the wait is over when this one fires.
    if (!closed) {
      retry = later(() => {
        retryAt = 0;
        void flush();
      }, wait);
    }
  }

  /** Sends one batch; true when it was answered for good (stored, rejected or refused), false to retry later. */
  async function post(batch: Batch, hiding = false): Promise<boolean> {
    for (const event of batch.events) inFlight.add(event.id);
    const keepalive = keepaliveBytes + batch.bytes <= KEEPALIVE_BUDGET;
    if (keepalive) keepaliveBytes += batch.bytes;
    const token = typeof ingestToken === 'function' ? ingestToken() : ingestToken;
    // A page going away has no time for a CORS preflight: without a key or token the request can be a simple one.
    const headers: Record<string, string> = {
      'content-type': hiding && !ingestKey && !token ? 'text/plain' : 'application/json',
    };
    if (ingestKey) headers['x-ingest-key'] = ingestKey;
    if (token) headers['x-ingest-token'] = token;
    let response: Response;
    try {
      response = await fetch(url, { method: 'POST', body: batch.body, headers, keepalive, credentials: 'omit' });
    } catch (error) {
      settle(batch, true);
      waitToRetry(null, `network error (${String(error)})`);
      return false;
    } finally {
      if (keepalive) keepaliveBytes -= batch.bytes;
    }
    const { status } = response;
    if (RETRYABLE.includes(status)) {
      settle(batch, true);
      waitToRetry(response.headers.get('retry-after'), `HTTP ${status}`);
      return false;
    }
    const answer = (await response.json().catch(() => ({}))) as {
      message?: string;
      accepted?: number;
      duplicates?: number;
      queued?: number;
      rejected?: { index: number; errors: TelemetryError['errors'] }[];
    };
    settle(batch);
    failures = 0;
    if (response.ok || status === 422) {
      for (const { index, errors } of answer.rejected ?? []) {
        const event = batch.events[index];
        const why = errors?.map((e) => `${e.field} ${e.reason}`).join('; ');
        if (event)
          report({ kind: 'rejected', status, message: `${event.signal} rejected: ${why}`, events: [event], errors });
      }
    } else {
      const message = `HTTP ${status} refused ${batch.events.length} events: ${answer.message ?? ''}`;
      report({ kind: 'refused', status, message, events: batch.events });
    }
    // A queued ingest (IngestMode queued) answers 202 with how many it queued, to be stored once each.
    const outcome =
      answer.queued === undefined
        ? `${answer.accepted} new, ${answer.duplicates} already stored`
        : `${answer.queued} queued`;
    log(`HTTP ${status} for ${batch.events.length} events: ${outcome}`);
    return true;
  }

  async function drain(): Promise<void> {
    let batch: Batch | undefined;
    while (Date.now() >= retryAt && (batch = nextBatch(SERVER_LIMITS.maxRequestBytes)) && (await post(batch)));
  }

  function flush(): Promise<void> {
    clearTimeout(soon);
    soon = undefined;
    sending ??= drain().finally(() => (sending = undefined));
    return sending;
  }

  /** The page may be going away: what fits goes out by keepalive fetch, the rest by beacon; unanswered events
   * stay in localStorage for the next page. */
  function sendWhileHiding(): void {
    if (Date.now() < retryAt) return; // the server asked for a pause: the events wait in storage
    for (;;) {
      let batch = nextBatch(KEEPALIVE_BUDGET - keepaliveBytes);
      if (batch) {
        void post(batch, true);
        continue;
      }
      // A beacon cannot carry X-Ingest-Key or X-Ingest-Token, and browsers cap it like keepalive.
      batch = nextBatch(KEEPALIVE_BUDGET);
      if (!batch || ingestKey || ingestToken || !globalThis.navigator?.sendBeacon?.(url, batch.body)) return;
      log(`beacon with ${batch.events.length} events`);
      for (const event of batch.events) {
        inFlight.add(event.id);
        beaconed.add(event.id);
      }
    }
  }

  const doc = globalThis.document;
  const onVisibility = (): void => {
    if (doc.visibilityState === 'hidden') {
      save();
      sendWhileHiding();
    } else {
      for (const id of beaconed) inFlight.delete(id);
      beaconed.clear();
      void flush();
    }
  };
  const onPageHide = (): void => {
    gone = true;
    sendWhileHiding();
    save();
  };
  const onPageShow = (): void => {
    gone = false; // back from the back/forward cache: the queue is this page's again
    save();
  };
  const tick = (): void => {
    enqueue(store.adopt()); // also rewrites this page's entry, which shows that the page is alive
    void flush();
  };
  doc?.addEventListener('visibilitychange', onVisibility);
  globalThis.addEventListener?.('pagehide', onPageHide);
  globalThis.addEventListener?.('pageshow', onPageShow);
  const interval = setInterval(tick, flushIntervalMs);
  (interval as { unref?: () => void }).unref?.();
  enqueue(store.adopt());
  if (queue.length) soon ??= later(() => void flush(), 0);

  function trackSignal(signal: Signal, component: string, actionId?: string, data?: SignalData): void {
    if (closed || !sampled) return log(`${signal} not sent:`, closed ? 'shut down' : 'session not sampled');
    try {
      if (data !== undefined && (typeof data !== 'object' || data === null || Array.isArray(data))) {
        throw new TypeError('data must be a plain object');
      }
      const event: TelemetryEvent = {
        id: crypto.randomUUID(),
        ts: new Date().toISOString(),
        session_id: sessionId,
        component,
        signal,
        ...(userId && { user_id: userId }),
        data: actionId === undefined ? { ...data } : { ...data, action_id: actionId },
      };
      assertSendable(event);
      enqueue([event]);
    } catch (error) {
      report({ kind: 'invalid', message: `${signal} of ${String(component)} not sent: ${(error as Error).message}` });
    }
  }

  const track = Object.freeze(
    Object.fromEntries(
      SIGNALS.map((signal) => [
        methodName(signal),
        (component: string, actionId?: string, data?: SignalData) => trackSignal(signal, component, actionId, data),
      ]),
    ),
  ) as Tracker;

  return {
    track,
    setUserId(id) {
      const problem = id == null || id === '' ? undefined : userIdProblem(id);
      userId = problem ? undefined : id || undefined;
      if (problem) {
        report({ kind: 'invalid', message: `user id ${JSON.stringify(id)} ${problem}; events go without user_id` });
      }
    },
    setSessionId(id) {
      const problem = textProblem(id);
      if (problem) return report({ kind: 'invalid', message: `session id ${problem}; keeping ${sessionId}` });
      sessionId = id;
      sampled = sessionSampled(id, sampleRate);
    },
    flush,
    async shutdown() {
      if (closed) return;
      closed = true;
      doc?.removeEventListener('visibilitychange', onVisibility);
      globalThis.removeEventListener?.('pagehide', onPageHide);
      globalThis.removeEventListener?.('pageshow', onPageShow);
      clearInterval(interval);
      clearTimeout(retry);
      await flush();
      save();
    },
  };
}
