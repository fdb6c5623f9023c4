// A real HTTP server on 127.0.0.1 that records what a client POSTs and answers as a test scripts it: the
// answers the ingest route gives under faults (429, 5xx, Retry-After) that a test cannot get from it on demand.
import { createServer } from 'node:http';

const accepted = (request) => ({
  status: 200,
  body: { accepted: request.events.length, duplicates: 0, rejected: [] },
});

export class Peer {
  requests = [];
  #script = [];
  #server;
  port = 0;

  /** Answers the next requests in this order; an answer is {status, headers?, body?}, 'drop' to cut the
   * connection, or a function of the request returning (a promise of) either. After the script, requests are
   * accepted. */
  answer(...answers) {
    this.#script.push(...answers);
    return this;
  }

  get url() {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Every event received, in order of arrival. */
  get events() {
    return this.requests.flatMap((r) => r.events);
  }

  async start() {
    this.#server = createServer((req, res) => {
      const chunks = [];
      req.on('data', (chunk) => chunks.push(chunk));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        const request = { at: Date.now(), method: req.method, url: req.url, headers: req.headers, events: [] };
        try {
          request.events = JSON.parse(body).events ?? [];
        } catch {
          request.body = body;
        }
        this.requests.push(request);
        const answer = this.#script.shift() ?? accepted;
        void Promise.resolve(typeof answer === 'function' ? answer(request) : answer).then((reply) => {
          if (reply === 'drop') {
            req.socket.destroy();
            return;
          }
          res.writeHead(reply.status, { 'content-type': 'application/json', ...reply.headers });
          res.end(reply.body === undefined ? '' : JSON.stringify(reply.body));
        });
      });
    });
    await new Promise((resolve) => this.#server.listen(this.port, '127.0.0.1', resolve));
    this.port = this.#server.address().port;
    return this;
  }

  /** Stops listening (clients then get connection errors); start() again reopens the same port. */
  async stop() {
    this.#server.closeAllConnections();
    await new Promise((resolve) => this.#server.close(resolve));
  }
}

/** Polls until `check` returns something truthy; fails after `ms`. */
export async function waitFor(check, ms = 5000, what = 'the condition') {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
