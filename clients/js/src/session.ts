/** The session id of a browser tab (kept in sessionStorage), and whether a session is sampled. */

const KEY = 'resilience-telemetry:session';

export function tabSessionId(): string {
  try {
    let id = sessionStorage.getItem(KEY);
    if (!id) sessionStorage.setItem(KEY, (id = crypto.randomUUID()));
    return id;
  } catch {
    return crypto.randomUUID(); // no sessionStorage (a worker, a sandboxed frame): one session per client
  }
}

/** Decided by the session id alone (FNV-1a onto [0, 1)), so every page and reload of a session agrees and a
 * sampled session reports its signals whole: a start with its success or rollback, never half of them. */
export function sessionSampled(sessionId: string, rate: number): boolean {
  if (rate >= 1) return true;
  let hash = 0x811c9dc5;
  for (let i = 0; i < sessionId.length; i++) hash = Math.imul(hash ^ sessionId.charCodeAt(i), 0x01000193);
  return (hash >>> 0) / 2 ** 32 < rate;
}
