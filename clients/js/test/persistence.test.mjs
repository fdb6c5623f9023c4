// The queue in localStorage: it survives reloads and outages, is resent with the same ids, stays bounded, and
// passes from a closed page to a live one without being lost.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';

import { createTelemetry } from '../dist/index.js';
import { Peer, waitFor } from './peer.mjs';
import { MemoryStorage, removePlatform, Tab } from './platform.mjs';

const QUIET = { flushIntervalMs: 60_000, retryDelayMs: 20, maxRetryDelayMs: 200 };

let peer;
let clients;
const errors = [];
const client = (options = {}) => {
  const made = createTelemetry({ endpoint: peer.url, onError: (e) => errors.push(e), ...QUIET, ...options });
  clients.push(made);
  return made;
};
const queued = (storage) =>
  Array.from({ length: storage.length }, (_, i) => storage.key(i))
    .filter((key) => key.startsWith('resilience-telemetry:queue:'))
    .flatMap((key) => JSON.parse(storage.getItem(key)).events);

beforeEach(async () => {
  peer = await new Peer().start();
  clients = [];
  errors.length = 0;
});

afterEach(async () => {
  await Promise.all(clients.map((c) => c.shutdown()));
  await peer.stop().catch(() => {});
  removePlatform();
});

describe('the persisted queue', () => {
  it('survives an outage and a reload, and is resent with the same ids', async () => {
    const tab = new Tab();
    await peer.stop();
    const before = client();
    before.track.optimisticActionStart('Cart', 'a1');
    before.track.optimisticActionRollback('Cart', 'a1');
    await before.flush(); // fails: nothing listens
    const ids = queued(tab.localStorage).map((e) => e.id);
    assert.equal(ids.length, 2);

    tab.reload();
    const after = client();
    after.track.optimisticActionStart('Cart', 'a2');
    await peer.start();
    await after.flush();

    assert.deepEqual(
      peer.events.map((e) => e.id),
      [...ids, peer.events[2].id],
    );
    assert.deepEqual(
      peer.events.map((e) => e.session_id),
      Array(3).fill(peer.events[0].session_id),
      'a reload keeps the tab’s session',
    );
    await waitFor(() => queued(tab.localStorage).length === 0, 2000, 'the stored queue to empty');
  });

  it('keeps events sent at page close until they are answered: the next page sends them again', async () => {
    const tab = new Tab();
    const page = client();
    page.track.retrySuccess('Cart', 'last-words');
    tab.reload(); // pagehide: a keepalive request is sent, and its answer will never reach the page
    const next = client();
    await next.flush();

    const copies = peer.events.filter((e) => e.data.action_id === 'last-words');
    assert.equal(copies.length, 2, 'sent at close, and again by the next page');
    assert.equal(copies[0].id, copies[1].id, 'with the same id, which the server stores once');
  });

  it('is bounded: beyond maxQueue the oldest events are dropped and reported', async () => {
    new Tab();
    await peer.stop();
    const telemetry = client({ maxQueue: 3 });
    for (let i = 1; i <= 5; i++) telemetry.track.retryAttempt('Cart', `a${i}`);
    await peer.start();
    await telemetry.flush();

    assert.deepEqual(
      peer.events.map((e) => e.data.action_id),
      ['a3', 'a4', 'a5'],
    );
    assert.deepEqual(
      errors.map((e) => [e.kind, e.events.map((d) => d.data.action_id)]),
      [
        ['overflow', ['a1']],
        ['overflow', ['a2']],
      ],
    );
  });

  it('never drops events that are on their way when it is full', async () => {
    new Tab();
    let answer;
    peer.answer(() => new Promise((resolve) => (answer = resolve)));
    const telemetry = client({ maxQueue: 2 });
    telemetry.track.retryAttempt('Cart', 'sent-first');
    const sending = telemetry.flush();
    await waitFor(() => answer, 2000, 'the request to arrive');
    for (const id of ['b', 'c', 'd']) telemetry.track.retryAttempt('Cart', id);
    answer({ status: 200, body: { accepted: 1, duplicates: 0, rejected: [] } });
    await sending;
    await telemetry.flush();

    assert.deepEqual(
      errors.map((e) => e.events.map((d) => d.data.action_id)),
      [['b'], ['c']],
    );
    assert.deepEqual(
      peer.events.map((e) => e.data.action_id),
      ['sent-first', 'd'],
    );
  });

  it('passes from a closed tab to a live one, never from a live one', async () => {
    const origin = new MemoryStorage();
    await peer.stop();
    const first = new Tab(origin);
    const a = client({ retryDelayMs: 60_000, maxRetryDelayMs: 60_000 }); // tab A waits long before retrying
    a.track.retryFailure('Cart', 'from-a');
    await a.flush();

    new Tab(origin);
    const b = client({ flushIntervalMs: 20 });
    b.track.retryFailure('Cart', 'from-b');
    await peer.start();
    await waitFor(() => peer.events.length, 5000, 'tab B’s event');
    await new Promise((resolve) => setTimeout(resolve, 200)); // tab B looks for queues to take over every 20 ms
    assert.deepEqual(
      peer.events.map((e) => e.data.action_id),
      ['from-b'],
      'tab A is alive: its queue stays its own',
    );

    first.close(); // tab A is waiting to retry: its event stays in localStorage for another page
    await waitFor(() => peer.events.length === 2, 5000, 'tab A’s event, sent by tab B');
    assert.equal(peer.events[1].data.action_id, 'from-a');
    await waitFor(() => queued(origin).length === 0, 2000, 'the stored queues to empty');
  });

  it('reports a full localStorage and still sends from memory', async () => {
    new Tab(new MemoryStorage(300));
    const telemetry = client();
    telemetry.track.retrySuccess('Cart', undefined, { note: 'x'.repeat(400) });
    await Promise.resolve(); // the queue is written once per task, after its events are tracked
    telemetry.track.retrySuccess('Cart', undefined, { note: 'y'.repeat(400) });
    await telemetry.flush();
    assert.equal(peer.events.length, 2);
    assert.deepEqual(
      errors.map((e) => e.kind),
      ['storage'],
      'said once, not at every write',
    );
    assert.match(errors[0].message, /quota/i);
  });
});
