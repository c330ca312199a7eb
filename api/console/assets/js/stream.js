// The live stream (GET /api/v1/stream): the user's order and fill events by seq, position and
// account snapshots, and quotes of the followed symbols. A dropped connection comes back with
// the last seq seen, and the server replays what was missed exactly once.

const RETRY_FIRST_MS = 500;
const RETRY_MAX_MS = 10_000;
const UNAUTHORIZED = 4401; // the stream's close code for a token it does not take
const BAD_RESUME = 1008; // a last_seq it refused: start afresh

export class Stream {
  #socket = null;
  #lastSeq = null;
  #symbols = new Set();
  #retryMs = RETRY_FIRST_MS;
  #timer = null;

  /**
   * `onOpen` runs once the server holds this connection's place in the log (its answer to
   * the first subscribe): whatever is read over HTTP after that and changes later arrives
   * here too. `onMessage` gets every message, `onState` "connecting", "live" or "down".
   */
  constructor(session, { onOpen, onMessage, onState }) {
    this.session = session;
    Object.assign(this, { onOpen, onMessage, onState });
  }

  start() {
    this.#connect();
  }

  stop() {
    clearTimeout(this.#timer);
    const socket = this.#socket;
    this.#socket = null;
    socket?.close(1000, "logged out");
    this.#lastSeq = null;
    this.#symbols.clear();
    this.#retryMs = RETRY_FIRST_MS;
  }

  /** Receive quotes of these symbols too (the current quote first). */
  follow(symbols) {
    const added = symbols.filter((symbol) => !this.#symbols.has(symbol));
    added.forEach((symbol) => this.#symbols.add(symbol));
    if (added.length) this.#send({ action: "subscribe", symbols: added });
  }

  unfollow(symbols) {
    const dropped = symbols.filter((symbol) => this.#symbols.delete(symbol));
    if (dropped.length) this.#send({ action: "unsubscribe", symbols: dropped });
  }

  #connect() {
    const url = new URL("/api/v1/stream", location.href);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    const socket = new WebSocket(url);
    this.#socket = socket;
    let opened = false;
    this.onState("connecting");
    socket.addEventListener("open", () => {
      // The token goes in the first message, not the URL, so no access log records it.
      const resume = this.#lastSeq === null ? {} : { last_seq: this.#lastSeq };
      socket.send(JSON.stringify({ action: "auth", token: this.session.token, ...resume }));
      // An empty subscribe cannot be refused: its answer marks the stream open.
      socket.send(JSON.stringify({ action: "subscribe", symbols: [] }));
      if (this.#symbols.size) {
        socket.send(JSON.stringify({ action: "subscribe", symbols: [...this.#symbols] }));
      }
    });
    socket.addEventListener("message", (event) => {
      if (socket !== this.#socket) return;
      const message = JSON.parse(event.data);
      this.#track(message);
      if (message.type === "subscribed" && !opened) {
        opened = true;
        this.#retryMs = RETRY_FIRST_MS;
        this.onState("live");
        this.onOpen();
      }
      this.onMessage(message);
    });
    socket.addEventListener("close", (event) => {
      if (socket === this.#socket) this.#closed(event.code);
    });
  }

  #track(message) {
    const seq = message.type === "heartbeat" ? message.seq
      : message.type === "order" || message.type === "fill" ? message.seq : null;
    if (seq !== null && (this.#lastSeq === null || seq > this.#lastSeq)) this.#lastSeq = seq;
  }

  async #closed(code) {
    this.onState("down");
    if (code === BAD_RESUME) this.#lastSeq = null;
    if (code === UNAUTHORIZED) {
      try {
        await this.session.renew();
      } catch {
        // Refused (the session ends and says so) or unreachable (the retry below waits).
      }
      if (this.session.token === null) return;
    }
    this.#timer = setTimeout(() => this.#connect(), this.#retryMs);
    this.#retryMs = Math.min(this.#retryMs * 2, RETRY_MAX_MS);
  }

  #send(message) {
    if (this.#socket?.readyState === WebSocket.OPEN) this.#socket.send(JSON.stringify(message));
    // Otherwise the next connection's first subscribe carries every followed symbol.
  }
}
