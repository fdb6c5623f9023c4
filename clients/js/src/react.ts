/** React bindings: the provider, the original setup's telemetry hooks, a retry wrapper and an error boundary. */

import {
  Component,
  createContext,
  createElement,
  useCallback,
  useContext,
  useEffect,
  useRef,
  useState,
  type ErrorInfo,
  type ReactNode,
} from 'react';

import { createTelemetry, type Telemetry, type TelemetryOptions } from './index.js';

const TelemetryContext = createContext<Telemetry | null>(null);
// The client of the provider mounted last, for withRetryTelemetry: it wraps functions outside any component.
let mounted: Telemetry | null = null;

export type TelemetryProviderProps = ({ client: Telemetry } | ({ client?: undefined } & TelemetryOptions)) & {
  children?: ReactNode;
};

/** Makes a client available to the hooks below: one made with createTelemetry, or one made from the options. */
export function TelemetryProvider(props: TelemetryProviderProps): ReactNode {
  const [own] = useState(() => (props.client ? null : createTelemetry(props as TelemetryOptions)));
  const client = props.client ?? own!;
  useEffect(() => {
    mounted = client;
    return () => {
      if (mounted === client) mounted = null;
    };
  }, [client]);
  return createElement(TelemetryContext.Provider, { value: client }, props.children);
}

/** The provider's client: `{track, setUserId, setSessionId, flush, shutdown}`. */
export function useResilienceTelemetry(): Telemetry {
  const client = useContext(TelemetryContext);
  if (!client) throw new Error('useResilienceTelemetry needs a <TelemetryProvider> above the component');
  return client;
}

const elapsed = (since: number): number => Math.round(performance.now() - since);
const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error)).slice(0, 500);

export type OptimisticStatus = 'idle' | 'optimistic' | 'loading' | 'success' | 'error';

export interface OptimisticActionOptions<T, P> {
  action: (params: P) => Promise<T>;
  /** Names the component in the signals. */
  component: string;
  /** Applies the optimistic update, before the action runs. */
  onOptimistic?: (params: P) => void;
  onSuccess?: (result: T, params: P) => void;
  onError?: (error: Error, params: P) => void;
  /** Undoes the optimistic update. */
  onRollback?: (params: P) => void;
}

export interface OptimisticAction<T, P> {
  /** Runs the action: optimistic_action_start, then optimistic_action_success or _rollback (same action_id). */
  execute: (params: P) => Promise<T | null>;
  status: OptimisticStatus;
  isLoading: boolean;
  error: Error | null;
  /** Undoes the optimistic update by hand (no signal). */
  rollback: (params: P) => void;
}

export function useOptimisticActionWithTelemetry<T, P = void>(
  options: OptimisticActionOptions<T, P>,
): OptimisticAction<T, P> {
  const { track } = useResilienceTelemetry();
  const [status, setStatus] = useState<OptimisticStatus>('idle');
  const [error, setError] = useState<Error | null>(null);
  const latest = useRef(options);
  latest.current = options;

  const execute = useCallback(
    async (params: P): Promise<T | null> => {
      const { action, component, onOptimistic, onSuccess, onError, onRollback } = latest.current;
      const actionId = crypto.randomUUID();
      const started = performance.now();
      track.optimisticActionStart(component, actionId);
      setStatus('optimistic');
      onOptimistic?.(params);
      setStatus('loading');
      try {
        const result = await action(params);
        track.optimisticActionSuccess(component, actionId, { duration_ms: elapsed(started) });
        setStatus('success');
        setError(null);
        onSuccess?.(result, params);
        return result;
      } catch (thrown) {
        const failure = thrown instanceof Error ? thrown : new Error(messageOf(thrown));
        track.optimisticActionRollback(component, actionId, {
          duration_ms: elapsed(started),
          rollback_reason: messageOf(failure),
        });
        setStatus('error');
        setError(failure);
        onError?.(failure, params);
        onRollback?.(params);
        return null;
      }
    },
    [track],
  );

  const rollback = useCallback((params: P) => {
    setStatus('idle');
    setError(null);
    latest.current.onRollback?.(params);
  }, []);

  return { execute, status, isLoading: status === 'loading', error, rollback };
}

export interface DebouncedClickOptions {
  /** Clicks within this many ms of the last one that ran are suppressed. Default 300. */
  delay?: number;
  /** Names the component (for the debug log and onDuplicate's callers). */
  component: string;
  /** Hears of each suppressed click: while the last one's promise is pending, or too soon after it. */
  onDuplicate?: (reason: 'already_processing' | 'too_soon', component: string) => void;
}

/** Runs `callback` for the first of a burst of clicks and suppresses the rest, including any click while the
 * promise of the last run is pending. The server has no signal for a suppressed click, so none is sent;
 * the signals of what `callback` runs (an optimistic action, say) are. */
export function useDebouncedClickWithTelemetry<A extends unknown[], R>(
  callback: (...args: A) => R,
  { delay = 300, component, onDuplicate }: DebouncedClickOptions,
): (...args: A) => R | undefined {
  const last = useRef(Number.NEGATIVE_INFINITY);
  const busy = useRef(false);
  const latest = useRef(callback);
  latest.current = callback;
  return useCallback(
    (...args: A) => {
      const reason = busy.current ? 'already_processing' : performance.now() - last.current < delay ? 'too_soon' : null;
      if (reason) {
        onDuplicate?.(reason, component);
        return undefined;
      }
      last.current = performance.now();
      const result = latest.current(...args);
      if (result instanceof Promise) {
        busy.current = true;
        result.then(
          () => (busy.current = false),
          () => (busy.current = false),
        );
      }
      return result;
    },
    [delay, component, onDuplicate],
  );
}

export interface RetryOptions {
  /** Retries after the first attempt. Default 3. */
  retries?: number;
  component: string;
  /** The first retry's delay, doubled for each next one. Default 200 ms. */
  delayMs?: number;
  /** The client to report to; default: the mounted TelemetryProvider's. */
  telemetry?: Telemetry;
}

/** Wraps an async function with retries: retry_attempt before each retry, then retry_success, or retry_failure
 * once the retries are spent (and the last error is thrown). A first attempt that succeeds sends nothing. */
export function withRetryTelemetry<A extends unknown[], R>(
  fn: (...args: A) => Promise<R>,
  { retries = 3, component, delayMs = 200, telemetry }: RetryOptions,
): (...args: A) => Promise<R> {
  return async (...args: A): Promise<R> => {
    const client = telemetry ?? mounted;
    if (!client) throw new Error('withRetryTelemetry needs a mounted <TelemetryProvider> or the telemetry option');
    const { track } = client;
    const operationId = crypto.randomUUID();
    const started = performance.now();
    for (let attempt = 1; ; attempt++) {
      try {
        const result = await fn(...args);
        if (attempt > 1) {
          track.retrySuccess(component, operationId, { total_attempts: attempt, total_duration_ms: elapsed(started) });
        }
        return result;
      } catch (error) {
        if (attempt > retries) {
          if (attempt > 1) {
            track.retryFailure(component, operationId, {
              total_attempts: attempt,
              total_duration_ms: elapsed(started),
              final_error: messageOf(error),
            });
          }
          throw error;
        }
        const backoff = delayMs * 2 ** (attempt - 1);
        track.retryAttempt(component, operationId, { retry_count: attempt, backoff_ms: backoff });
        await new Promise((resolve) => setTimeout(resolve, backoff));
      }
    }
  };
}

export interface ErrorBoundaryProps {
  component: string;
  /** Shown instead of the children after an error; a function gets the error and a reset. */
  fallback: ReactNode | ((props: { error: Error; reset: () => void }) => ReactNode);
  /** A change in any of these values resets the boundary (recovery_method "reset_keys"). */
  resetKeys?: unknown[];
  onError?: (error: Error, info: ErrorInfo) => void;
  onReset?: () => void;
  children?: ReactNode;
}

interface ErrorBoundaryState {
  error: Error | null;
}

/** Catches render errors: error_boundary_triggered when it does, error_boundary_recovered when it is reset
 * (its fallback's reset, or a change of resetKeys); both carry the incident's action_id. */
export class ResilienceErrorBoundary extends Component<ErrorBoundaryProps, ErrorBoundaryState> {
  static override contextType = TelemetryContext;
  override state: ErrorBoundaryState = { error: null };
  private incident = { id: '', started: 0 };

  static getDerivedStateFromError(error: unknown): ErrorBoundaryState {
    return { error: error instanceof Error ? error : new Error(messageOf(error)) };
  }

  private get client(): Telemetry | null {
    return (this.context as Telemetry | null) ?? mounted;
  }

  override componentDidCatch(error: Error, info: ErrorInfo): void {
    this.incident = { id: crypto.randomUUID(), started: performance.now() };
    this.client?.track.errorBoundaryTriggered(this.props.component, this.incident.id, {
      error_type: error.name,
      error_message: messageOf(error),
    });
    this.props.onError?.(error, info);
  }

  override componentDidUpdate(previous: ErrorBoundaryProps, previousState: ErrorBoundaryState): void {
    const keys = this.props.resetKeys ?? [];
    const before = previous.resetKeys ?? [];
    const changed = keys.length !== before.length || keys.some((key, i) => !Object.is(key, before[i]));
    // Not in the update that caught the error: keys changing with the error are not a recovery.
    if (previousState.error && changed) this.recover('reset_keys');
  }

  reset = (): void => this.recover('reset');

  private recover(method: string): void {
    if (!this.state.error) return;
    this.client?.track.errorBoundaryRecovered(this.props.component, this.incident.id, {
      recovery_method: method,
      recovery_time_ms: elapsed(this.incident.started),
    });
    this.setState({ error: null });
    this.props.onReset?.();
  }

  override render(): ReactNode {
    const { error } = this.state;
    if (!error) return this.props.children;
    const { fallback } = this.props;
    return typeof fallback === 'function' ? fallback({ error, reset: this.reset }) : fallback;
  }
}
