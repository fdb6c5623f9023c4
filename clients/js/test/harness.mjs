// What the client's tests share: a peer started and stopped around each test, clients made against it (shut
// down afterwards) with the errors they report, and readers of what was sent and what localStorage holds.
import { afterEach, beforeEach } from 'node:test';

import { createTelemetry } from '../dist/index.js';
import { Peer } from './peer.mjs';
import { removePlatform } from './platform.mjs';

/** Keeps tests quick: nothing is sent on the interval unless a test asks, retries come within 200 ms. */
export const QUIET = { flushIntervalMs: 60_000, retryDelayMs: 20, maxRetryDelayMs: 200 };

/** Registers the hooks of a test file; `defaults` are options of every client it makes. */
export function useHarness(defaults = {}) {
  const harness = {
    peer: undefined,
    errors: [],
    clients: [],
    client(options = {}) {
      const onError = (error) => harness.errors.push(error);
      const made = createTelemetry({ endpoint: harness.peer.url, onError, ...QUIET, ...defaults, ...options });
      harness.clients.push(made);
      return made;
    },
  };
  beforeEach(async () => {
    harness.peer = await new Peer().start();
    harness.errors.length = 0;
    harness.clients.length = 0;
  });
  afterEach(async () => {
    await Promise.all(harness.clients.map((c) => c.shutdown()));
    await harness.peer.stop().catch(() => {}); // a test may have stopped it already
    removePlatform();
  });
  return harness;
}

/** The action ids of events, in their order. */
export const actionIds = (events) => events.map((e) => e.data.action_id);

/** The events of every page's queue in this localStorage. */
export const queued = (storage) =>
  Array.from({ length: storage.length }, (_, i) => storage.key(i))
    .filter((key) => key.startsWith('resilience-telemetry:queue:'))
    .flatMap((key) => JSON.parse(storage.getItem(key)).events);
