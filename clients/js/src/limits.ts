/** What the ingest route accepts (resilience.settings.Settings and resilience.events); a test holds them equal. */

export const SERVER_LIMITS = {
  /** Events in one request. */
  maxEvents: 500,
  /** Bytes of one request body. */
  maxRequestBytes: 1024 * 1024,
  /** Bytes of one event, as the server estimates it: its data, session id and component, plus 200. */
  maxEventBytes: 32 * 1024,
  /** Characters of `session_id` and `component`. */
  maxText: 200,
} as const;

/** The sum of the bodies of a page's keepalive requests in flight may not exceed 64 KiB (the Fetch standard);
 * this leaves room for other scripts' requests. */
export const KEEPALIVE_BUDGET = 60_000;

/** `id` and `user_id`: hyphenated or 32 hex digits, either case, as resilience.events accepts. */
export const UUID = /^(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{32})$/i;
