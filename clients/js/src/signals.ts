/** The eight resilience signals the ingest route accepts, and the tracker method named after each. */

export const SIGNALS = [
  'optimistic_action_start',
  'optimistic_action_success',
  'optimistic_action_rollback',
  'retry_attempt',
  'retry_success',
  'retry_failure',
  'error_boundary_triggered',
  'error_boundary_recovered',
] as const;

export type Signal = (typeof SIGNALS)[number];

type CamelCase<S extends string> = S extends `${infer Head}_${infer Tail}`
  ? `${Head}${Capitalize<CamelCase<Tail>>}`
  : S;

/** Free-form details of a signal; stored as JSON with the event. */
export type SignalData = Record<string, unknown>;

/** Reports one signal of `component`; `actionId` ties related signals together (it lands in `data.action_id`). */
export type TrackSignal = (component: string, actionId?: string, data?: SignalData) => void;

/** `track.optimisticActionStart(...)`, `track.retryFailure(...)`: one method per signal. */
export type Tracker = { readonly [S in Signal as CamelCase<S>]: TrackSignal };

export const methodName = (signal: Signal): string => signal.replace(/_(\w)/g, (_, c: string) => c.toUpperCase());
