// When the page is hidden or closed: keepalive fetch within its 64 KiB budget, sendBeacon beyond it, and
// localStorage for whatever neither can carry.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';

import { actionIds, queued, useHarness } from './harness.mjs';
import { waitFor } from './peer.mjs';
import { recordFetches, Tab } from './platform.mjs';

const BLOB = 'x'.repeat(25_000); // three such events do not fit in one keepalive budget
const h = useHarness({ batchSize: 500 });
let fetches;

beforeEach(() => {
  fetches = recordFetches();
});

afterEach(() => fetches.restore());

/** Six events, too large together for one keepalive budget. */
function trackLarge(telemetry) {
  for (let i = 0; i < 6; i++) telemetry.track.retryAttempt('Cart', `a${i}`, { blob: BLOB });
}
const SIX = ['a0', 'a1', 'a2', 'a3', 'a4', 'a5'];

describe('a page being hidden', () => {
  it('sends the queue at once by keepalive fetch, as a simple request needing no preflight', async () => {
    const tab = new Tab();
    const telemetry = h.client();
    telemetry.track.optimisticActionStart('Cart', 'a1');
    telemetry.track.optimisticActionSuccess('Cart', 'a1');
    tab.hide();

    await waitFor(() => h.peer.events.length === 2, 2000, 'the events');
    assert.deepEqual(
      fetches.calls.map((c) => [c.keepalive, c.headers['content-type']]),
      [[true, 'text/plain']],
    );
    assert.equal(tab.beacons.length, 0);
  });

  it('sends what exceeds the keepalive budget by sendBeacon', async () => {
    const tab = new Tab();
    const telemetry = h.client();
    trackLarge(telemetry);
    tab.hide();

    await waitFor(() => h.peer.events.length === 6, 2000, 'every event');
    const keptAlive = fetches.calls.filter((c) => c.keepalive);
    assert.ok(keptAlive.length >= 1);
    assert.ok(keptAlive.reduce((sum, c) => sum + c.bytes, 0) <= 64 * 1024);
    assert.ok(tab.beacons.length >= 1);
    const beaconRequests = h.peer.requests.filter((r) => r.headers['content-type'] === 'text/plain;charset=UTF-8');
    assert.equal(beaconRequests.length, tab.beacons.length);
    assert.deepEqual(actionIds(h.peer.events).sort(), SIX);
  });

  it('sends beaconed events again once the page is shown, as a beacon is never answered', async () => {
    const tab = new Tab();
    const telemetry = h.client();
    trackLarge(telemetry);
    tab.hide();
    await waitFor(() => h.peer.events.length === 6, 2000, 'the events');
    const beaconed = tab.beacons.flatMap((b) => b.body.events.map((e) => e.id));

    tab.show();
    await telemetry.flush();
    const resent = h.peer.events.slice(6).map((e) => e.id);
    assert.deepEqual(resent.sort(), beaconed.sort());
    assert.deepEqual(queued(tab.localStorage), []);
  });

  it('with an ingest key sends no beacon: what the budget cannot carry waits for the next page', async () => {
    const tab = new Tab();
    const telemetry = h.client({ ingestKey: 'pk_test' });
    trackLarge(telemetry);
    tab.close();
    await waitFor(() => h.peer.events.length >= 1, 2000, 'the keepalive request');
    assert.equal(tab.beacons.length, 0);
    assert.ok(h.peer.events.length < 6);
    assert.ok(fetches.calls.every((c) => c.keepalive && c.headers['x-ingest-key'] === 'pk_test'));
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(queued(tab.localStorage).length, 6 - h.peer.events.length, 'the rest is in localStorage');

    tab.open();
    await h.client({ ingestKey: 'pk_test' }).flush();
    assert.deepEqual(actionIds(h.peer.events).sort(), SIX);
  });

  it('with an ingest token sends no beacon, and its keepalive requests carry the token', async () => {
    const tab = new Tab();
    const telemetry = h.client({ ingestToken: () => 'token-of-the-page' });
    trackLarge(telemetry);
    tab.close();
    await waitFor(() => h.peer.events.length >= 1, 2000, 'the keepalive request');
    assert.equal(tab.beacons.length, 0);
    assert.ok(fetches.calls.every((c) => c.keepalive && c.headers['x-ingest-token'] === 'token-of-the-page'));
    assert.ok(fetches.calls.every((c) => c.headers['content-type'] === 'application/json'));
  });

  it('sends nothing while the server asked to wait: the queue stays in localStorage', async () => {
    const tab = new Tab();
    h.peer.answer({ status: 429, headers: { 'retry-after': '60' } });
    const telemetry = h.client();
    telemetry.track.retryFailure('Cart', 'waiting');
    await telemetry.flush();
    tab.close();
    await new Promise((resolve) => setTimeout(resolve, 50));

    assert.equal(h.peer.requests.length, 1);
    assert.deepEqual(actionIds(queued(tab.localStorage)), ['waiting']);
  });
});
