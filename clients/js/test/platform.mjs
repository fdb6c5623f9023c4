// What a browser page has and Node lacks: Web Storage, page visibility, page lifecycle events and
// navigator.sendBeacon. Nothing here stands in for the server: requests go over real HTTP.
import { webcrypto } from 'node:crypto';

// Node 18 (Debian's) has Web Crypto only as a module; browsers and later Nodes have it as a global.
globalThis.crypto ??= webcrypto;

/** Web Storage in memory; `quota` (bytes of keys and values) makes setItem throw as browsers do. */
export class MemoryStorage {
  #items = new Map();
  constructor(quota = Infinity) {
    this.quota = quota;
  }
  get length() {
    return this.#items.size;
  }
  key(index) {
    return [...this.#items.keys()][index] ?? null;
  }
  getItem(key) {
    return this.#items.has(key) ? this.#items.get(key) : null;
  }
  setItem(key, value) {
    const others = [...this.#items].filter(([k]) => k !== key).reduce((n, [k, v]) => n + k.length + v.length, 0);
    if (others + key.length + String(value).length > this.quota) {
      throw new DOMException('The quota has been exceeded.', 'QuotaExceededError');
    }
    this.#items.set(key, String(value));
  }
  removeItem(key) {
    this.#items.delete(key);
  }
  clear() {
    this.#items.clear();
  }
}

const GLOBALS = ['localStorage', 'sessionStorage', 'document', 'addEventListener', 'removeEventListener', 'navigator'];

/**
 * A browser tab: its own sessionStorage, window and document, and the origin's localStorage (shared by the tabs
 * of one origin). The tab becomes the page that globalThis describes; `reload()` replaces the page (`close()` then
 * `open()`), keeping both storages; `beacons` lists what sendBeacon queued, which is then POSTed for real, as a
 * browser does.
 */
export class Tab {
  constructor(localStorage = new MemoryStorage(), { beaconLimit = 64 * 1024 } = {}) {
    this.localStorage = localStorage;
    this.sessionStorage = new MemoryStorage();
    this.beaconLimit = beaconLimit;
    this.beacons = [];
    this.open();
  }

  /** A new page loads in this tab (after the last one closed). */
  open() {
    this.window = new EventTarget();
    this.document = Object.assign(new EventTarget(), { visibilityState: 'visible' });
    return this.focus();
  }

  /** Makes this tab the page that globalThis describes (what a client created next will use). */
  focus() {
    const tab = this;
    const page = {
      localStorage: this.localStorage,
      sessionStorage: this.sessionStorage,
      document: this.document,
      addEventListener: this.window.addEventListener.bind(this.window),
      removeEventListener: this.window.removeEventListener.bind(this.window),
      navigator: {
        sendBeacon(url, body) {
          if (new TextEncoder().encode(body).length > tab.beaconLimit) return false;
          tab.beacons.push({ url, body: JSON.parse(body) });
          void fetch(url, { method: 'POST', body, headers: { 'content-type': 'text/plain;charset=UTF-8' } }).catch(
            () => {},
          );
          return true;
        },
      },
    };
    // Node 21 and later define navigator themselves, as a getter: replace it outright.
    for (const [name, value] of Object.entries(page)) {
      Object.defineProperty(globalThis, name, { value, configurable: true, writable: true });
    }
    return this;
  }

  hide() {
    this.document.visibilityState = 'hidden';
    this.document.dispatchEvent(new Event('visibilitychange'));
  }

  show() {
    this.document.visibilityState = 'visible';
    this.document.dispatchEvent(new Event('visibilitychange'));
  }

  /** The page goes away (closed, or navigated from). */
  close() {
    this.hide();
    this.window.dispatchEvent(Object.assign(new Event('pagehide'), { persisted: false }));
  }

  /** The page goes away and a new one loads in the same tab. */
  reload() {
    this.close();
    return this.open();
  }
}

export function removePlatform() {
  for (const name of GLOBALS) delete globalThis[name];
}

/** Records the options of every fetch (keepalive, headers) on its way to the real fetch. */
export function recordFetches() {
  const real = globalThis.fetch;
  const calls = [];
  globalThis.fetch = (url, init = {}) => {
    calls.push({ url, keepalive: Boolean(init.keepalive), headers: { ...init.headers }, bytes: init.body?.length });
    return real(url, init);
  };
  return { calls, restore: () => (globalThis.fetch = real) };
}
