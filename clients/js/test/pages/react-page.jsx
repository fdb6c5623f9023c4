// A React application using every binding of resilience-telemetry/react; the browser tests build it with
// esbuild. ?api= is the API's base URL, ?user= a user id.
import { StrictMode, useEffect, useState } from 'react';
import { createRoot } from 'react-dom/client';

import {
  ResilienceErrorBoundary,
  TelemetryProvider,
  useDebouncedClickWithTelemetry,
  useOptimisticActionWithTelemetry,
  useResilienceTelemetry,
  withRetryTelemetry,
} from '../../dist/react.js';

const params = new URLSearchParams(location.search);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
window.telemetryErrors = [];

function Order({ fails }) {
  const [suppressed, setSuppressed] = useState(0);
  const [done, setDone] = useState(0);
  const { execute, status } = useOptimisticActionWithTelemetry({
    component: 'ReactCheckout',
    action: async () => {
      await sleep(50);
      if (fails) throw new Error('payment declined');
      return 'placed';
    },
    onSuccess: () => setDone((n) => n + 1),
    onError: () => setDone((n) => n + 1),
  });
  const click = useDebouncedClickWithTelemetry(() => execute(), {
    delay: 300,
    component: 'ReactCheckout',
    onDuplicate: () => setSuppressed((n) => n + 1),
  });
  return (
    <button
      id={fails ? 'order-fails' : 'order'}
      data-status={status}
      data-done={done}
      data-suppressed={suppressed}
      onClick={click}
    >
      {fails ? 'Order (declined)' : 'Order'}
    </button>
  );
}

/** An inbox request that fails `failures` times before it succeeds. */
function flaky(failures) {
  let left = failures;
  return async () => {
    if (left-- > 0) throw new Error('HTTP 503');
    return 'inbox';
  };
}

function Inbox({ fails }) {
  const [state, setState] = useState('idle');
  const load = () => {
    setState('loading');
    const request = withRetryTelemetry(flaky(fails ? Infinity : 2), {
      retries: fails ? 2 : 3,
      component: 'ReactInbox',
      delayMs: 20,
    });
    request().then(
      () => setState('loaded'),
      () => setState('failed'),
    );
  };
  return (
    <button id={fails ? 'inbox-fails' : 'inbox'} data-state={state} onClick={load}>
      {fails ? 'Inbox (down)' : 'Inbox'}
    </button>
  );
}

function ProfileCard({ broken, onBreak }) {
  if (broken) throw new Error('profile failed to render');
  return (
    <button id="crash" onClick={onBreak}>
      Crash the profile
    </button>
  );
}

function Profile() {
  const [broken, setBroken] = useState(false);
  return (
    <ResilienceErrorBoundary
      component="ReactProfile"
      fallback={({ reset }) => (
        <button
          id="recover"
          onClick={() => {
            setBroken(false);
            reset();
          }}
        >
          Recover
        </button>
      )}
    >
      <ProfileCard broken={broken} onBreak={() => setBroken(true)} />
    </ResilienceErrorBoundary>
  );
}

function App() {
  const { setUserId } = useResilienceTelemetry();
  useEffect(() => setUserId(params.get('user')), [setUserId]);
  useEffect(() => {
    document.body.dataset.ready = 'true';
  }, []);
  return (
    <main>
      <Order />
      <Order fails />
      <Inbox />
      <Inbox fails />
      <Profile />
    </main>
  );
}

createRoot(document.getElementById('root'), { onCaughtError: () => {} }).render(
  <StrictMode>
    <TelemetryProvider
      endpoint={params.get('api')}
      batchSize={4}
      flushIntervalMs={60_000}
      retryDelayMs={200}
      maxRetryDelayMs={1000}
      debug
      onError={(error) => window.telemetryErrors.push(error.message)}
    >
      <App />
    </TelemetryProvider>
  </StrictMode>,
);
