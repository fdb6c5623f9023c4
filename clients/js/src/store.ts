/** The queue's copy in localStorage: one entry per page, taken over by a later page once its owner is gone. */

import type { TelemetryEvent } from './event.js';

const PREFIX = 'resilience-telemetry:queue:';
// A page rewrites its entry at least at every flush attempt (retries wait at most a minute by default, and a
// background tab's timers wake at least once a minute), so an entry this old has no live page behind it.
const ABANDONED_MS = 5 * 60_000;

interface Entry {
  endpoint: string;
  at: number;
  closed: boolean;
  events: TelemetryEvent[];
}

export interface Store {
  /** Removes and returns the events of pages that closed or were abandoned, sent to the same endpoint. */
  adopt(): TelemetryEvent[];
  /** Writes this page's queue; `closed` lets the next page take it over at once. */
  save(events: readonly TelemetryEvent[], closed?: boolean): void;
}

export function createStore(endpoint: string, fail: (error: unknown) => void): Store {
  const key = PREFIX + crypto.randomUUID();
  let failing = false;
  const storage = (): Storage | undefined => {
    try {
      return globalThis.localStorage;
    } catch {
      return undefined; // a sandboxed frame or blocked storage: the queue lives in memory only
    }
  };

  return {
    adopt() {
      const local = storage();
      const taken: TelemetryEvent[] = [];
      if (!local) return taken;
      const now = Date.now();
      for (let i = local.length - 1; i >= 0; i--) {
        const name = local.key(i);
        if (!name?.startsWith(PREFIX) || name === key) continue;
        try {
          const entry = JSON.parse(local.getItem(name) ?? 'null') as Entry | null;
          if (entry?.endpoint !== endpoint || !(entry.closed || now - entry.at > ABANDONED_MS)) continue;
          taken.push(...entry.events);
        } catch {
          // Unreadable: written by something else under our prefix; it is dropped below.
        }
        local.removeItem(name);
      }
      return taken;
    },
    save(events, closed = false) {
      const local = storage();
      if (!local) return;
      try {
        if (events.length) local.setItem(key, JSON.stringify({ endpoint, at: Date.now(), closed, events }));
        else local.removeItem(key);
        failing = false;
      } catch (error) {
        // Over the origin's quota: the events are still held in memory. Said once, not at every event.
        if (!failing) fail(error);
        failing = true;
      }
    },
  };
}
