/** One reported signal as the ingest route takes it, and the checks that keep the server from refusing it. */

import { SERVER_LIMITS, UUID } from './limits.js';
import type { Signal, SignalData } from './signals.js';

export interface TelemetryEvent {
  id: string;
  /** The client's clock, ISO 8601 in UTC. */
  ts: string;
  session_id: string;
  component: string;
  signal: Signal;
  user_id?: string;
  data: SignalData;
}

const encoder = new TextEncoder();
export const byteLength = (text: string): number => encoder.encode(text).length;

/** Why `value` cannot be a session id or component name (the server's rule for both), or undefined. */
export function textProblem(value: unknown): string | undefined {
  if (typeof value !== 'string' || !/\S/.test(value)) return 'must be a non-blank string';
  if (value.includes('\0')) return 'must not contain NUL characters';
  if ([...value].length > SERVER_LIMITS.maxText) return `must be at most ${SERVER_LIMITS.maxText} characters`;
  return undefined;
}

/** Why `value` cannot be a user id, or undefined. */
export const userIdProblem = (value: unknown): string | undefined =>
  typeof value === 'string' && UUID.test(value) ? undefined : 'must be a UUID (hyphenated or 32 hex digits)';

/** Throws why the server would refuse the event: refused here, it cannot fail the whole batch it would join. */
export function assertSendable(event: TelemetryEvent): void {
  const component = textProblem(event.component);
  if (component) throw new TypeError(`component ${component}`);
  const json = JSON.stringify(event); // throws on cycles and BigInt
  // The server adds 200 bytes to its estimate for the fields around the free text; so does this check.
  const size = byteLength(json) + 200;
  if (size > SERVER_LIMITS.maxEventBytes) {
    throw new RangeError(`event is ${size} bytes; the limit per event is ${SERVER_LIMITS.maxEventBytes}`);
  }
}
