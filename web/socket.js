// The live side: one all-conversations WebSocket (/api/v1/ws). The access
// token travels as a subprotocol (["chat", token]) so it stays out of the URL.
// The socket reconnects with exponential backoff and resumes with
// ?since=<conversation_id>:<seq>,... so that no message is missed, re-authorises
// itself with {"type":"auth"} after every token refresh, and pings to notice a
// dead link.

const PING_MS = 25000;       // a ping this often...
const PONG_WAIT_MS = 10000;  // ...and the socket is presumed dead without an answer
const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 15000;

// Events: "frame" (detail: a server event), "state" (detail: "connecting",
// "open", "waiting" (to reconnect), "closed"), "fatal" (detail: why).
export class LiveSocket extends EventTarget {
  #ws = null;
  #attempt = 0;
  #retryTimer = 0;
  #pingTimer = 0;
  #pongTimer = 0;
  #stopped = true;
  #refreshedInOutage = false;

  // resumePoints(): a Map conversation id -> last seq seen.
  constructor(session, resumePoints) {
    super();
    this.session = session;
    this.resumePoints = resumePoints;
    this.state = 'closed';
    session.addEventListener('token', (e) => this.send({ type: 'auth', token: e.detail }));
    window.addEventListener('online', () => { if (!this.#stopped && !this.#ws) this.#connectNow(); });
  }

  start() {
    this.#stopped = false;
    this.#connectNow();
  }

  stop() {
    this.#stopped = true;
    clearTimeout(this.#retryTimer);
    this.#teardown(1000);
    this.#setState('closed');
  }

  get isOpen() { return this.#ws?.readyState === WebSocket.OPEN; }

  // true when the frame went out.
  send(frame) {
    if (!this.isOpen) return false;
    this.#ws.send(JSON.stringify(frame));
    return true;
  }

  // Close the socket as a lost link would (for the console and the tests).
  drop() { this.#ws?.close(4000, 'dropped by the client'); }

  #url() {
    const parts = [];
    for (const [cid, seq] of this.resumePoints()) parts.push(`${cid}:${seq}`);
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const q = parts.length ? `?since=${parts.join(',')}` : '';  // uuids, digits, ':' and ','
    return `${proto}//${location.host}/api/v1/ws${q}`;
  }

  async #connectNow() {
    clearTimeout(this.#retryTimer);
    if (this.#stopped || this.#ws) return;
    this.#setState('connecting');
    let token;
    try {
      token = await this.session.fresh();
    } catch (e) {
      if (!this.session.active) { this.#fatal(`session ended: ${e.message}`); return; }
      this.#retry();
      return;
    }
    if (this.#stopped || this.#ws) return;
    const ws = new WebSocket(this.#url(), ['chat', token]);
    this.#ws = ws;
    let opened = false;
    ws.addEventListener('open', () => {
      opened = true;
      this.#attempt = 0;
      this.#refreshedInOutage = false;
      this.#setState('open');
      this.#heartbeat();
    });
    ws.addEventListener('message', (e) => {
      this.#heartbeat();
      let frame;
      try { frame = JSON.parse(e.data); } catch { return; }
      if (frame.type === 'pong') return;
      this.dispatchEvent(new CustomEvent('frame', { detail: frame }));
    });
    ws.addEventListener('close', (e) => {
      if (this.#ws !== ws) return;
      this.#teardown();
      if (this.#stopped) return;
      // 4401: the token was refused (expired, revoked): refresh before retrying;
      // a handshake refused before open may be a stale token too (once per outage:
      // a gateway that is down is not cured by new tokens).
      if (e.code === 4401 || (!opened && !this.#refreshedInOutage)) {
        this.#refreshedInOutage = true;
        this.session.refresh().then(() => this.#retry(), () => {
          if (!this.session.active) this.#fatal('the session ended; log in again');
          else this.#retry();
        });
        return;
      }
      this.#retry();
    });
  }

  #retry() {
    if (this.#stopped) return;
    const base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** this.#attempt++);
    const delay = base / 2 + Math.random() * base / 2;
    this.#setState('waiting', delay);
    this.#retryTimer = setTimeout(() => this.#connectNow(), delay);
  }

  // Any frame proves the link alive; a quiet one gets a ping, then a deadline.
  #heartbeat() {
    clearTimeout(this.#pingTimer);
    clearTimeout(this.#pongTimer);
    this.#pingTimer = setTimeout(() => {
      if (!this.send({ type: 'ping' })) return;
      this.#pongTimer = setTimeout(() => this.#ws?.close(4000, 'no pong'), PONG_WAIT_MS);
    }, PING_MS);
  }

  #teardown(code) {
    clearTimeout(this.#pingTimer);
    clearTimeout(this.#pongTimer);
    const ws = this.#ws;
    this.#ws = null;
    if (ws && code && ws.readyState <= WebSocket.OPEN) ws.close(code);
  }

  #fatal(why) {
    this.stop();
    this.dispatchEvent(new CustomEvent('fatal', { detail: why }));
  }

  #setState(state, delay) {
    this.state = state;
    this.dispatchEvent(new CustomEvent('state', { detail: { state, delay } }));
  }
}
