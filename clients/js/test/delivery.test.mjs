// Delivery: what an event holds, batching, retries with backoff and Retry-After, and what is never retried.
import assert from 'node:assert/strict';
import { beforeEach, describe, it } from 'node:test';

import { createTelemetry, SERVER_LIMITS, SIGNALS } from '../dist/index.js';
import { actionIds, useHarness } from './harness.mjs';
import { waitFor } from './peer.mjs';
import { recordFetches, Tab } from './platform.mjs';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const h = useHarness();
let tab;

beforeEach(() => {
  tab = new Tab();
});

describe('an event', () => {
  it('carries a UUID, an ISO timestamp with offset, the tab session and the user id', async () => {
    const first = h.client();
    first.setUserId('5B2F7C1E-8A44-4C1B-9D3E-2F6A1B7C9D01');
    first.track.optimisticActionStart('CheckoutForm', 'order-1');
    const second = h.client();
    second.track.retrySuccess('CheckoutForm');
    await Promise.all([first.flush(), second.flush()]);

    const [a, b] = h.peer.events;
    assert.match(a.id, UUID);
    assert.notEqual(a.id, b.id);
    assert.match(a.ts, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.ok(Math.abs(Date.parse(a.ts) - Date.now()) < 60_000);
    assert.equal(a.session_id, tab.sessionStorage.getItem('resilience-telemetry:session'));
    assert.equal(b.session_id, a.session_id, 'one session per tab');
    assert.equal(a.user_id, '5B2F7C1E-8A44-4C1B-9D3E-2F6A1B7C9D01');
    assert.equal('user_id' in b, false);
    assert.deepEqual(
      [a.component, a.signal, a.data],
      ['CheckoutForm', 'optimistic_action_start', { action_id: 'order-1' }],
    );
  });

  it('has one tracker method per signal, in camel case', async () => {
    const telemetry = h.client();
    const methods = Object.keys(telemetry.track);
    assert.deepEqual(methods, [
      'optimisticActionStart',
      'optimisticActionSuccess',
      'optimisticActionRollback',
      'retryAttempt',
      'retrySuccess',
      'retryFailure',
      'errorBoundaryTriggered',
      'errorBoundaryRecovered',
    ]);
    for (const method of methods) telemetry.track[method]('Inbox', undefined, { via: method });
    await telemetry.flush();
    assert.deepEqual(
      h.peer.events.map((e) => [e.signal, e.data]),
      SIGNALS.map((signal, i) => [signal, { via: methods[i] }]),
    );
  });

  it('puts the action id into data beside the caller’s own fields', async () => {
    const telemetry = h.client();
    telemetry.track.optimisticActionRollback('Cart', 'a-7', { reason: 'http 409', action_id: 'overridden' });
    await telemetry.flush();
    assert.deepEqual(h.peer.events[0].data, { reason: 'http 409', action_id: 'a-7' });
  });

  it('is refused before queueing when the server would refuse it, through onError', async () => {
    const telemetry = h.client();
    telemetry.track.retryAttempt('   ');
    telemetry.track.retryAttempt('x'.repeat(201));
    telemetry.track.retryAttempt('Cart', undefined, ['not', 'an', 'object']);
    telemetry.track.retryAttempt('Cart', undefined, { blob: 'x'.repeat(SERVER_LIMITS.maxEventBytes) });
    const cyclic = {};
    cyclic.self = cyclic;
    telemetry.track.retryAttempt('Cart', undefined, cyclic);
    telemetry.track.retrySuccess('Cart');
    await telemetry.flush();

    assert.deepEqual(
      h.errors.map((e) => e.kind),
      ['invalid', 'invalid', 'invalid', 'invalid', 'invalid'],
    );
    assert.match(h.errors[0].message, /component must be a non-blank string/);
    assert.match(h.errors[1].message, /at most 200 characters/);
    assert.match(h.errors[2].message, /data must be a plain object/);
    assert.match(h.errors[3].message, /the limit per event is 32768/);
    assert.deepEqual(
      h.peer.events.map((e) => e.signal),
      ['retry_success'],
      'the valid event still goes',
    );
  });
});

describe('user and session ids', () => {
  it('refuses a user id that is not a UUID through onError, and sends events without one', async () => {
    const telemetry = h.client();
    telemetry.setUserId('5b2f7c1e8a444c1b9d3e2f6a1b7c9d01');
    telemetry.track.retrySuccess('Cart');
    telemetry.setUserId('alice@example.com');
    telemetry.track.retrySuccess('Cart');
    await telemetry.flush();

    assert.equal(h.errors.length, 1);
    assert.equal(h.errors[0].kind, 'invalid');
    assert.match(h.errors[0].message, /user id "alice@example.com" must be a UUID/);
    assert.equal(h.peer.events[0].user_id, '5b2f7c1e8a444c1b9d3e2f6a1b7c9d01');
    assert.equal('user_id' in h.peer.events[1], false);
    assert.equal(h.peer.requests.length, 1, 'both events went in one request, none was lost');
  });

  it('replaces the tab session with setSessionId, and refuses a blank one', async () => {
    const telemetry = h.client();
    telemetry.setSessionId('app-session-9');
    telemetry.setSessionId(' ');
    telemetry.track.retrySuccess('Cart');
    await telemetry.flush();
    assert.equal(h.peer.events[0].session_id, 'app-session-9');
    assert.match(h.errors[0].message, /session id must be a non-blank string; keeping app-session-9/);
  });
});

describe('batching', () => {
  it('sends a full batch at once, and the rest on the interval', async () => {
    const telemetry = h.client({ batchSize: 3, flushIntervalMs: 300 });
    for (let i = 0; i < 7; i++) telemetry.track.retryAttempt('Cart', `a${i}`);
    await waitFor(() => h.peer.requests.length >= 2, 5000, 'two full batches');
    assert.deepEqual(
      h.peer.requests.slice(0, 2).map((r) => r.events.length),
      [3, 3],
    );
    await waitFor(() => h.peer.requests.length === 3, 5000, 'the interval');
    assert.deepEqual(actionIds(h.peer.events), ['a0', 'a1', 'a2', 'a3', 'a4', 'a5', 'a6']);
  });

  it('keeps every request within the server’s count and size limits', async () => {
    const telemetry = h.client({ batchSize: 500, maxQueue: 2000 });
    const blob = 'x'.repeat(30 * 1024);
    for (let i = 0; i < 40; i++) telemetry.track.retryAttempt('Cart', `big${i}`, { blob });
    for (let i = 0; i < 1200; i++) telemetry.track.retryAttempt('Cart', `small${i}`);
    await telemetry.flush();

    assert.equal(h.peer.events.length, 1240);
    for (const request of h.peer.requests) {
      assert.ok(request.events.length <= SERVER_LIMITS.maxEvents);
      assert.ok(Number(request.headers['content-length']) <= SERVER_LIMITS.maxRequestBytes);
    }
    assert.ok(h.peer.requests.length >= 4);
  });
});

describe('retries', () => {
  for (const answer of ['drop', { status: 429 }, { status: 502 }, { status: 503 }, { status: 504 }]) {
    const name = answer === 'drop' ? 'a network error' : `HTTP ${answer.status}`;
    it(`retries after ${name}, with the same ids`, async () => {
      h.peer.answer(answer, answer);
      const telemetry = h.client();
      telemetry.track.retryFailure('Cart', 'op-1');
      telemetry.track.retrySuccess('Cart', 'op-2');
      await telemetry.flush();
      await waitFor(() => h.peer.requests.length === 3, 5000, 'the retries');

      const ids = h.peer.requests.map((r) => r.events.map((e) => e.id).join());
      assert.equal(new Set(ids).size, 1, 'every attempt carries the same ids');
      assert.deepEqual(h.errors, []);
    });
  }

  it('waits longer before each retry', async () => {
    h.peer.answer({ status: 503 }, { status: 503 }, { status: 503 }, { status: 503 });
    const telemetry = h.client({ retryDelayMs: 100, maxRetryDelayMs: 10_000 });
    telemetry.track.retryFailure('Cart');
    await telemetry.flush();
    await waitFor(() => h.peer.requests.length === 5, 10_000, 'four retries');

    const gaps = h.peer.requests.slice(1).map((r, i) => r.at - h.peer.requests[i].at);
    // Each wait is drawn from [ceiling / 2, ceiling], the ceiling doubling from retryDelayMs.
    gaps.forEach((gap, i) => assert.ok(gap >= 50 * 2 ** i - 5, `retry ${i + 1} waited ${gap} ms`));
    assert.ok(gaps[3] > gaps[0], `${gaps}`);
  });

  it('honours Retry-After in seconds', async () => {
    h.peer.answer({ status: 429, headers: { 'retry-after': '1' } });
    const telemetry = h.client();
    telemetry.track.retryFailure('Cart');
    await telemetry.flush();
    await telemetry.flush();
    assert.equal(h.peer.requests.length, 1, 'a flush during the wait sends nothing');
    await waitFor(() => h.peer.requests.length === 2, 5000, 'the retry');
    assert.ok(h.peer.requests[1].at - h.peer.requests[0].at >= 1000);
  });

  it('honours Retry-After as an HTTP date', async () => {
    const when = new Date(Date.now() + 2000).toUTCString();
    h.peer.answer({ status: 503, headers: { 'retry-after': when } });
    const telemetry = h.client();
    telemetry.track.retryFailure('Cart');
    await telemetry.flush();
    await waitFor(() => h.peer.requests.length === 2, 5000, 'the retry');
    assert.ok(h.peer.requests[1].at >= Date.parse(when) - 5);
  });

  for (const status of [400, 413, 500]) {
    it(`never retries HTTP ${status}: the batch is dropped and reported`, async () => {
      h.peer.answer({ status, body: { message: 'refused for a reason' } });
      const telemetry = h.client();
      telemetry.track.retryFailure('Cart', 'op-1');
      await telemetry.flush();
      telemetry.track.retrySuccess('Cart', 'op-2');
      await telemetry.flush();

      assert.deepEqual(
        h.peer.requests.map((r) => actionIds(r.events)),
        [['op-1'], ['op-2']],
      );
      assert.equal(h.errors.length, 1);
      assert.deepEqual([h.errors[0].kind, h.errors[0].status, h.errors[0].events.length], ['refused', status, 1]);
      assert.match(h.errors[0].message, /refused for a reason/);
    });
  }

  it("takes a queued ingest's 202 as delivered, and never retries the events it rejected", async (t) => {
    const debug = t.mock.method(console, 'debug', () => {});
    const reason = [{ field: 'signal', reason: 'unknown signal' }];
    h.peer.answer({ status: 202, body: { queued: 1, rejected: [{ index: 1, errors: reason }] } });
    const telemetry = h.client({ debug: true });
    telemetry.track.retrySuccess('Cart', 'queued');
    telemetry.track.retrySuccess('Cart', 'rejected-in-202');
    await telemetry.flush();
    await telemetry.flush();

    assert.equal(h.peer.requests.length, 1);
    assert.deepEqual(
      h.errors.map((e) => [e.kind, e.status, e.events[0].data.action_id]),
      [['rejected', 202, 'rejected-in-202']],
    );
    assert.ok(debug.mock.calls.some((c) => /HTTP 202 for 2 events: 1 queued/.test(c.arguments.join(' '))));
  });

  it('never retries events the server rejected, in a 200 or a 422 answer', async () => {
    const reason = [{ field: 'ts', reason: 'is more than 300 s in the future' }];
    h.peer.answer(
      { status: 200, body: { accepted: 1, duplicates: 0, rejected: [{ index: 1, errors: reason }] } },
      { status: 422, body: { accepted: 0, duplicates: 0, rejected: [{ index: 0, errors: reason }] } },
    );
    const telemetry = h.client();
    telemetry.track.retrySuccess('Cart', 'kept');
    telemetry.track.retrySuccess('Cart', 'rejected-in-200');
    await telemetry.flush();
    telemetry.track.retrySuccess('Cart', 'rejected-in-422');
    await telemetry.flush();
    await telemetry.flush();

    assert.equal(h.peer.requests.length, 2);
    assert.deepEqual(
      h.errors.map((e) => [e.kind, e.status, e.events[0].data.action_id, e.errors]),
      [
        ['rejected', 200, 'rejected-in-200', reason],
        ['rejected', 422, 'rejected-in-422', reason],
      ],
    );
    assert.match(h.errors[0].message, /retry_success rejected: ts is more than 300 s in the future/);
  });
});

describe('the request', () => {
  it('sends X-Ingest-Key, and uses keepalive while the body fits its budget', async () => {
    const fetches = recordFetches();
    try {
      const telemetry = h.client({ ingestKey: 'pk_live_123', batchSize: 500 });
      telemetry.track.retrySuccess('Cart');
      await telemetry.flush();
      for (let i = 0; i < 3; i++) telemetry.track.retrySuccess('Cart', undefined, { blob: 'x'.repeat(30_000) });
      await telemetry.flush();

      assert.equal(h.peer.requests[0].headers['x-ingest-key'], 'pk_live_123');
      assert.equal(h.peer.requests[0].headers['content-type'], 'application/json');
      assert.deepEqual(
        fetches.calls.map((c) => c.keepalive),
        [true, false],
      );
    } finally {
      fetches.restore();
    }
  });

  it('sends X-Ingest-Token, asking a function for it before each request', async () => {
    let current = 'token-one';
    const telemetry = h.client({ ingestToken: () => current });
    telemetry.track.retrySuccess('Cart');
    await telemetry.flush();
    current = 'token-two';
    telemetry.track.retrySuccess('Cart');
    await telemetry.flush();
    const fixed = h.client({ ingestToken: 'token-fixed' });
    fixed.track.retrySuccess('Cart');
    await fixed.flush();

    assert.deepEqual(
      h.peer.requests.map((r) => r.headers['x-ingest-token']),
      ['token-one', 'token-two', 'token-fixed'],
    );
    assert.ok(h.peer.requests.every((r) => r.headers['content-type'] === 'application/json'));
  });

  it('checks its options, naming the one at fault', () => {
    assert.throws(() => createTelemetry({}), /endpoint must be the API's base URL/);
    assert.throws(
      () => createTelemetry({ endpoint: h.peer.url, sampleRate: 2 }),
      /sampleRate must be a number up to 1; got 2/,
    );
    assert.throws(
      () => createTelemetry({ endpoint: h.peer.url, batchSize: 501 }),
      /batchSize must be a number up to 500/,
    );
  });

  it('goes to {endpoint}/v1/telemetry, with or without a trailing slash', async () => {
    const telemetry = h.client({ endpoint: `${h.peer.url}/` });
    telemetry.track.retrySuccess('Cart');
    await telemetry.flush();
    assert.equal(h.peer.requests[0].url, '/v1/telemetry');
  });

  it('logs what it does to the console when debug is on', async (t) => {
    const debug = t.mock.method(console, 'debug', () => {});
    h.peer.answer({ status: 503 });
    const telemetry = h.client({ debug: true });
    telemetry.track.retrySuccess('Cart');
    await telemetry.flush();
    await waitFor(() => h.peer.requests.length === 2, 5000, 'the retry');
    await waitFor(() =>
      debug.mock.calls.some((c) => /HTTP 200 for 1 events: 1 new, 0 already stored/.test(c.arguments.join(' '))),
    );
    const lines = debug.mock.calls.map((c) => c.arguments.join(' '));
    assert.ok(lines.every((line) => line.startsWith('[resilience-telemetry]')));
    assert.ok(
      lines.some((line) => /HTTP 503; retry 1 in \d+ ms/.test(line)),
      lines.join('\n'),
    );
  });

  it('sends what is queued on shutdown, then nothing more', async () => {
    const telemetry = h.client();
    telemetry.track.retrySuccess('Cart', 'before');
    await telemetry.shutdown();
    telemetry.track.retrySuccess('Cart', 'after');
    await telemetry.flush();
    assert.deepEqual(actionIds(h.peer.events), ['before']);
  });
});
