// The queue in localStorage: it survives reloads and outages, is resent with the same ids, stays bounded, and
// passes from a closed page to a live one without being lost.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { actionIds, queued, useHarness } from './harness.mjs';
import { waitFor } from './peer.mjs';
import { MemoryStorage, Tab } from './platform.mjs';

const h = useHarness();

describe('the persisted queue', () => {
  it('survives an outage and a reload, and is resent with the same ids', async () => {
    const tab = new Tab();
    await h.peer.stop();
    const before = h.client();
    before.track.optimisticActionStart('Cart', 'a1');
    before.track.optimisticActionRollback('Cart', 'a1');
    await before.flush(); // fails: nothing listens
    const ids = queued(tab.localStorage).map((e) => e.id);
    assert.equal(ids.length, 2);

    tab.reload();
    const after = h.client();
    after.track.optimisticActionStart('Cart', 'a2');
    await h.peer.start();
    await after.flush();

    assert.deepEqual(
      h.peer.events.map((e) => e.id),
      [...ids, h.peer.events[2].id],
    );
    assert.deepEqual(
      h.peer.events.map((e) => e.session_id),
      Array(3).fill(h.peer.events[0].session_id),
      'a reload keeps the tab’s session',
    );
    await waitFor(() => queued(tab.localStorage).length === 0, 2000, 'the stored queue to empty');
  });

  it('keeps events sent at page close until they are answered: the next page sends them again', async () => {
    const tab = new Tab();
    const page = h.client();
    page.track.retrySuccess('Cart', 'last-words');
    tab.reload(); // pagehide: a keepalive request is sent, and its answer will never reach the page
    const next = h.client();
    await next.flush();

    const copies = h.peer.events.filter((e) => e.data.action_id === 'last-words');
    assert.equal(copies.length, 2, 'sent at close, and again by the next page');
    assert.equal(copies[0].id, copies[1].id, 'with the same id, which the server stores once');
  });

  it('is bounded: beyond maxQueue the oldest events are dropped and reported', async () => {
    new Tab();
    await h.peer.stop();
    const telemetry = h.client({ maxQueue: 3 });
    for (let i = 1; i <= 5; i++) telemetry.track.retryAttempt('Cart', `a${i}`);
    await h.peer.start();
    await telemetry.flush();

    assert.deepEqual(actionIds(h.peer.events), ['a3', 'a4', 'a5']);
    assert.deepEqual(
      h.errors.map((e) => [e.kind, actionIds(e.events)]),
      [
        ['overflow', ['a1']],
        ['overflow', ['a2']],
      ],
    );
  });

  it('never drops events that are on their way when it is full', async () => {
    new Tab();
    let answer;
    h.peer.answer(() => new Promise((resolve) => (answer = resolve)));
    const telemetry = h.client({ maxQueue: 2 });
    telemetry.track.retryAttempt('Cart', 'sent-first');
    const sending = telemetry.flush();
    await waitFor(() => answer, 2000, 'the request to arrive');
    for (const id of ['b', 'c', 'd']) telemetry.track.retryAttempt('Cart', id);
    answer({ status: 200, body: { accepted: 1, duplicates: 0, rejected: [] } });
    await sending;
    await telemetry.flush();

    assert.deepEqual(
      h.errors.map((e) => actionIds(e.events)),
      [['b'], ['c']],
    );
    assert.deepEqual(actionIds(h.peer.events), ['sent-first', 'd']);
  });

  it('passes from a closed tab to a live one, never from a live one', async () => {
    const origin = new MemoryStorage();
    await h.peer.stop();
    const first = new Tab(origin);
    const a = h.client({ retryDelayMs: 60_000, maxRetryDelayMs: 60_000 }); // tab A waits long before retrying
    a.track.retryFailure('Cart', 'from-a');
    await a.flush();

    new Tab(origin);
    const b = h.client({ flushIntervalMs: 20 });
    b.track.retryFailure('Cart', 'from-b');
    await h.peer.start();
    await waitFor(() => h.peer.events.length, 5000, 'tab B’s event');
    await new Promise((resolve) => setTimeout(resolve, 200)); // tab B looks for queues to take over every 20 ms
    assert.deepEqual(actionIds(h.peer.events), ['from-b'], 'tab A is alive: its queue stays its own');

    first.close(); // tab A is waiting to retry: its event stays in localStorage for another page
    await waitFor(() => h.peer.events.length === 2, 5000, 'tab A’s event, sent by tab B');
    assert.equal(h.peer.events[1].data.action_id, 'from-a');
    await waitFor(() => queued(origin).length === 0, 2000, 'the stored queues to empty');
  });

  it('reports a full localStorage and still sends from memory', async () => {
    new Tab(new MemoryStorage(300));
    const telemetry = h.client();
    telemetry.track.retrySuccess('Cart', undefined, { note: 'x'.repeat(400) });
    await Promise.resolve(); // the queue is written once per task, after its events are tracked
    telemetry.track.retrySuccess('Cart', undefined, { note: 'y'.repeat(400) });
    await telemetry.flush();
    assert.equal(h.peer.events.length, 2);
    assert.deepEqual(
      h.errors.map((e) => e.kind),
      ['storage'],
      'said once, not at every write',
    );
    assert.match(h.errors[0].message, /quota/i);
  });
});
