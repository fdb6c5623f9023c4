// sampleRate: a share of sessions reports, each of them whole, decided by the session id alone.
import assert from 'node:assert/strict';
import { beforeEach, it } from 'node:test';

import { useHarness } from './harness.mjs';
import { Tab } from './platform.mjs';

const h = useHarness();
let tab;

beforeEach(() => {
  tab = new Tab();
});

async function sampledSessions(sampleRate, sessions) {
  const telemetry = h.client({ sampleRate, batchSize: 500, maxQueue: 10_000 });
  for (const session of sessions) {
    telemetry.setSessionId(session);
    telemetry.track.optimisticActionStart('Cart', session);
    telemetry.track.optimisticActionSuccess('Cart', session);
  }
  await telemetry.shutdown();
  const events = h.peer.events;
  h.peer.requests.length = 0;
  return events;
}

it('sends nothing at rate 0, and keeps nothing', async () => {
  assert.deepEqual(await sampledSessions(0, ['s1', 's2']), []);
  assert.equal(tab.localStorage.length, 0);
});

it('reports about the rate’s share of sessions, each whole, the same ones every time', async () => {
  const sessions = Array.from({ length: 2000 }, (_, i) => `session-${i}`);
  const first = await sampledSessions(0.25, sessions);
  const reported = new Set(first.map((e) => e.session_id));

  assert.ok(reported.size > 400 && reported.size < 600, `${reported.size} of 2000 sessions`);
  for (const session of reported) {
    assert.deepEqual(
      first.filter((e) => e.session_id === session).map((e) => e.signal),
      ['optimistic_action_start', 'optimistic_action_success'],
    );
  }
  const again = await sampledSessions(0.25, sessions);
  assert.deepEqual(new Set(again.map((e) => e.session_id)), reported);
});
