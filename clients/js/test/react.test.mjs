// resilience-telemetry/react in Node: withRetryTelemetry's signals, and the hooks' need of a provider. The
// hooks and the error boundary at work are tested in Chromium (tests/e2e).
import assert from 'node:assert/strict';
import { beforeEach, it } from 'node:test';

import { createElement } from 'react';
import { renderToString } from 'react-dom/server';

import { TelemetryProvider, useResilienceTelemetry, withRetryTelemetry } from '../dist/react.js';
import { useHarness } from './harness.mjs';
import { Tab } from './platform.mjs';

const h = useHarness();
let telemetry;

beforeEach(() => {
  new Tab();
  telemetry = h.client();
});

const failing = (times) => {
  let calls = 0;
  return async (value) => {
    calls += 1;
    if (calls <= times) throw new Error(`attempt ${calls} failed`);
    return `${value} on attempt ${calls}`;
  };
};
const sent = async () => {
  await telemetry.flush();
  return h.peer.events.map((e) => [e.signal, e.data]);
};

it('reports each retry, then the success, under one action id', async () => {
  const load = withRetryTelemetry(failing(2), { retries: 3, component: 'Inbox', delayMs: 5, telemetry });
  assert.equal(await load('inbox'), 'inbox on attempt 3');

  const events = await sent();
  assert.deepEqual(
    events.map(([signal, data]) => [signal, data.retry_count ?? data.total_attempts]),
    [
      ['retry_attempt', 1],
      ['retry_attempt', 2],
      ['retry_success', 3],
    ],
  );
  assert.deepEqual(
    events.map(([, data]) => data.backoff_ms),
    [5, 10, undefined],
  );
  assert.equal(new Set(events.map(([, data]) => data.action_id)).size, 1);
});

it('reports the failure once the retries are spent, and throws the last error', async () => {
  const load = withRetryTelemetry(failing(10), { retries: 2, component: 'Inbox', delayMs: 5, telemetry });
  await assert.rejects(load('inbox'), /attempt 3 failed/);

  const events = await sent();
  assert.deepEqual(
    events.map(([signal]) => signal),
    ['retry_attempt', 'retry_attempt', 'retry_failure'],
  );
  assert.deepEqual([events[2][1].total_attempts, events[2][1].final_error], [3, 'attempt 3 failed']);
});

it('sends nothing when the first attempt succeeds, or when no retry is allowed', async () => {
  assert.equal(await withRetryTelemetry(failing(0), { component: 'Inbox', telemetry })('x'), 'x on attempt 1');
  await assert.rejects(withRetryTelemetry(failing(1), { retries: 0, component: 'Inbox', telemetry })('x'));
  assert.deepEqual(await sent(), []);
});

it('needs a client: a mounted TelemetryProvider or the telemetry option', async () => {
  await assert.rejects(
    withRetryTelemetry(failing(0), { component: 'Inbox' })('x'),
    /needs a mounted <TelemetryProvider> or the telemetry option/,
  );
});

it('gives the hooks the provider’s client, and says so when there is no provider', () => {
  const Probe = () => createElement('p', null, Object.keys(useResilienceTelemetry().track).length);
  const provided = renderToString(createElement(TelemetryProvider, { client: telemetry }, createElement(Probe)));
  assert.equal(provided, '<p>8</p>');
  assert.throws(() => renderToString(createElement(Probe)), /useResilienceTelemetry needs a <TelemetryProvider>/);
});
