// When the page is hidden or closed: keepalive fetch within its 64 KiB budget, sendBeacon beyond it, and
// localStorage for whatever neither can carry.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';

import { createTelemetry } from '../dist/index.js';
import { Peer, waitFor } from './peer.mjs';
import { recordFetches, removePlatform, Tab } from './platform.mjs';

const QUIET = { flushIntervalMs: 60_000, retryDelayMs: 20, maxRetryDelayMs: 200, batchSize: 500 };
const BLOB = 'x'.repeat(25_000); // three such events do not fit in one keepalive budget

let peer;
let clients;
let fetches;
const client = (options = {}) => {
  const made = createTelemetry({ endpoint: peer.url, ...QUIET, ...options });
  clients.push(made);
  return made;
};
const queued = (storage) =>
  Array.from({ length: storage.length }, (_, i) => storage.key(i))
    .filter((key) => key.startsWith('resilience-telemetry:queue:'))
    .flatMap((key) => JSON.parse(storage.getItem(key)).events);
const actionIds = (events) => events.map((e) => e.data.action_id).sort();

beforeEach(async () => {
  peer = await new Peer().start();
  clients = [];
  fetches = recordFetches();
});

afterEach(async () => {
  fetches.restore();
  await Promise.all(clients.map((c) => c.shutdown()));
  await peer.stop();
  removePlatform();
});

describe('a page being hidden', () => {
  it('sends the queue at once by keepalive fetch, as a simple request needing no preflight', async () => {
    const tab = new Tab();
    const telemetry = client();
    telemetry.track.optimisticActionStart('Cart', 'a1');
    telemetry.track.optimisticActionSuccess('Cart', 'a1');
    tab.hide();

    await waitFor(() => peer.events.length === 2, 2000, 'the events');
    assert.deepEqual(
      fetches.calls.map((c) => [c.keepalive, c.headers['content-type']]),
      [[true, 'text/plain']],
    );
    assert.equal(tab.beacons.length, 0);
  });

  it('sends what exceeds the keepalive budget by sendBeacon', async () => {
    const tab = new Tab();
    const telemetry = client();
    for (let i = 0; i < 6; i++) telemetry.track.retryAttempt('Cart', `a${i}`, { blob: BLOB });
    tab.hide();

    await waitFor(() => peer.events.length === 6, 2000, 'every event');
    const keptAlive = fetches.calls.filter((c) => c.keepalive);
    assert.ok(keptAlive.length >= 1);
    assert.ok(keptAlive.reduce((sum, c) => sum + c.bytes, 0) <= 64 * 1024);
    assert.ok(tab.beacons.length >= 1);
    const beaconRequests = peer.requests.filter((r) => r.headers['content-type'] === 'text/plain;charset=UTF-8');
    assert.equal(beaconRequests.length, tab.beacons.length);
    assert.deepEqual(actionIds(peer.events), ['a0', 'a1', 'a2', 'a3', 'a4', 'a5']);
  });

  it('sends beaconed events again once the page is shown, as a beacon is never answered', async () => {
    const tab = new Tab();
    const telemetry = client();
    for (let i = 0; i < 6; i++) telemetry.track.retryAttempt('Cart', `a${i}`, { blob: BLOB });
    tab.hide();
    await waitFor(() => peer.events.length === 6, 2000, 'the events');
    const beaconed = tab.beacons.flatMap((b) => b.body.events.map((e) => e.id));

    tab.show();
    await telemetry.flush();
    const resent = peer.events.slice(6).map((e) => e.id);
    assert.deepEqual(resent.sort(), beaconed.sort());
    assert.deepEqual(queued(tab.localStorage), []);
  });

  it('with an ingest key sends no beacon: what the budget cannot carry waits for the next page', async () => {
    const tab = new Tab();
    const telemetry = client({ ingestKey: 'pk_test' });
    for (let i = 0; i < 6; i++) telemetry.track.retryAttempt('Cart', `a${i}`, { blob: BLOB });
    tab.close();
    await waitFor(() => peer.events.length >= 1, 2000, 'the keepalive request');
    assert.equal(tab.beacons.length, 0);
    assert.ok(peer.events.length < 6);
    assert.ok(fetches.calls.every((c) => c.keepalive && c.headers['x-ingest-key'] === 'pk_test'));
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(queued(tab.localStorage).length, 6 - peer.events.length, 'the rest is in localStorage');

    tab.open();
    await client({ ingestKey: 'pk_test' }).flush();
    assert.deepEqual(actionIds(peer.events), ['a0', 'a1', 'a2', 'a3', 'a4', 'a5']);
  });

  it('sends nothing while the server asked to wait: the queue stays in localStorage', async () => {
    const tab = new Tab();
    peer.answer({ status: 429, headers: { 'retry-after': '60' } });
    const telemetry = client();
    telemetry.track.retryFailure('Cart', 'waiting');
    await telemetry.flush();
    tab.close();
    await new Promise((resolve) => setTimeout(resolve, 50));

    assert.equal(peer.requests.length, 1);
    assert.deepEqual(actionIds(queued(tab.localStorage)), ['waiting']);
  });
});
