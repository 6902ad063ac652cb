// load.mjs - the fault suite's clients: users, conversations, receivers
// (one socket per user, per-conversation or all-conversations, on either
// gateway, through nginx or directly) and senders (REST or WebSocket, retrying
// an unacknowledged send with the same client_message_id until acked).
// Everything a client saw is recorded for check.mjs.
import { randomUUID } from 'node:crypto';
import WebSocket from 'ws';

export const sleep = ms => new Promise(r => setTimeout(r, ms));
const now = () => Date.now();

export function endpoints(env) {
  const http = env.CHAT_BASE_URL.replace(/^http/, 'ws');
  const gws = (env.CHAT_GATEWAY_PORTS || '').split(',').filter(Boolean).map(p => `ws://127.0.0.1:${p}`);
  return [{ name: 'nginx', url: http }, ...gws.map((url, i) => ({ name: `gw${i + 1}`, url }))];
}

export class Api {
  constructor(base) { this.base = base; }
  async call(method, path, body, token, timeoutMs = 5000) {
    const headers = { 'content-type': 'application/json' };
    if (token) headers.authorization = `Bearer ${token}`;
    const r = await fetch(`${this.base}/api/v1${path}`, {
      method, headers, body: body ? JSON.stringify(body) : undefined, signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await r.text();
    let json = null;
    try { json = text ? JSON.parse(text) : null; } catch { json = { raw: text }; }
    return { status: r.status, json };
  }
}

export class User {
  constructor(api, idx) { this.api = api; this.idx = idx; this.name = `f${randomUUID().replace(/-/g, '').slice(0, 12)}`; }
  async register() {
    const r = await this.api.call('POST', '/auth/register', { username: this.name, email: `${this.name}@example.com`, password: 'password123' });
    if (r.status !== 201) throw new Error(`register ${r.status} ${JSON.stringify(r.json)}`);
    this.id = r.json.user.id; this.token = r.json.access_token;
  }
  // Tokens expire (30 min): a soak run logs in again on a 401.
  async relogin() {
    try {
      const r = await this.api.call('POST', '/auth/login', { username: this.name, password: 'password123' });
      if (r.status === 200 && r.json.access_token) this.token = r.json.access_token;
    } catch { /* retried by the caller */ }
  }
}

// One user's socket. mode 'conv': /ws/conversations/{cid}, resumes with
// since_seq = last seq it got. mode 'all': /ws, resumes with since=<cid>:<last
// seq it got> (both exact resumes); it also advances the read watermark with
// {"type":"read","message_id"} frames, as a client showing the messages would.
export class Receiver {
  constructor({ user, cid, mode, endpoints, first, log, stats }) {
    Object.assign(this, { user, cid, mode, endpoints, log, stats });
    this.next = first;
    this.lastSeq = 0; this.lastId = null; this.readSent = null;
    this.sessions = []; // {endpoint, opened, closed, code, frames: [[seq, id, t, type]]}
    this.ws = null; this.open = false; this.stopping = false; this.paused = false;
    this.waiters = new Map(); // client_message_id -> {resolve, reject}
    this.inflight = null;     // the one WS send in flight (errors carry no client id)
    this.openWaiters = [];
  }
  url(ep) {
    const t = encodeURIComponent(this.user.token);
    if (this.mode === 'conv') return `${ep.url}/api/v1/ws/conversations/${this.cid}?token=${t}&since_seq=${this.lastSeq}`;
    return `${ep.url}/api/v1/ws?token=${t}&since=${this.cid}:${this.lastSeq}`;
  }
  connect() {
    if (this.stopping) return;
    const ep = this.endpoints[this.next % this.endpoints.length];
    this.next = Math.floor(Math.random() * this.endpoints.length); // a reconnect goes anywhere
    const ws = new WebSocket(this.url(ep), { handshakeTimeout: 5000 });
    const sess = { endpoint: ep.name, since: this.lastSeq, opened: null, closed: null, code: null, frames: [] };
    this.ws = ws;
    ws.on('open', () => {
      sess.opened = now(); this.sessions.push(sess); this.open = true;
      this.stats.connects++;
      for (const w of this.openWaiters.splice(0)) w();
    });
    ws.on('unexpected-response', (req, res) => {
      this.stats.handshakeRefused++;
      this.stats.refusedBy[res.statusCode] = (this.stats.refusedBy[res.statusCode] || 0) + 1;
      if (res.statusCode === 401) this.user.relogin();
    });
    ws.on('message', data => this.onFrame(sess, data));
    ws.on('error', () => {});
    ws.on('close', code => {
      if (sess.opened) { sess.closed = now(); sess.code = code; }
      if (this.ws === ws) { this.ws = null; this.open = false; }
      if (this.inflight) { this.inflight.reject(new Error(`socket closed ${code}`)); this.inflight = null; }
      if (!this.stopping) { this.stats.reconnects++; setTimeout(() => this.connect(), 100 + Math.random() * 200); }
    });
  }
  onFrame(sess, data) {
    let f;
    try { f = JSON.parse(data.toString()); } catch { this.stats.badFrames++; return; }
    if (f.type === 'message' || f.type === 'offline_message') {
      if (f.conversation_id !== this.cid) { this.stats.foreignFrames++; return; }
      sess.frames.push([f.seq, f.id, now(), f.type === 'offline_message' ? 1 : 0]);
      if (f.seq > this.lastSeq) { this.lastSeq = f.seq; this.lastId = f.id; }
    } else if (f.type === 'ack') {
      const w = this.inflight;
      if (w && w.cmid === f.client_message_id) { this.inflight = null; w.resolve(f); }
      else this.stats.strayAcks++;
    } else if (f.type === 'error') {
      this.stats.wsErrors[f.code] = (this.stats.wsErrors[f.code] || 0) + 1;
      const w = this.inflight;
      if (w) { this.inflight = null; w.reject(new Error(`ws error ${f.code}`)); }
    }
  }
  // The all-conversations socket's resume point is the read watermark.
  markRead() {
    if (this.mode !== 'all' || !this.open || !this.lastId || this.lastId === this.readSent) return;
    this.ws.send(JSON.stringify({ type: 'read', conversation_id: this.cid, message_id: this.lastId }));
    this.readSent = this.lastId;
  }
  waitOpen(ms) {
    if (this.open) return Promise.resolve(true);
    return new Promise(res => {
      const t = setTimeout(() => res(false), ms);
      this.openWaiters.push(() => { clearTimeout(t); res(true); });
    });
  }
  async sendWs(cmid, content, timeoutMs) {
    if (!(await this.waitOpen(timeoutMs))) throw new Error('socket not open');
    if (this.inflight) throw new Error('busy');
    const frame = { type: 'message', content, client_message_id: cmid };
    if (this.mode === 'all') frame.conversation_id = this.cid;
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => { if (this.inflight && this.inflight.cmid === cmid) this.inflight = null; reject(new Error('ack timeout')); }, timeoutMs);
      this.inflight = {
        cmid,
        resolve: v => { clearTimeout(t); resolve(v); },
        reject: e => { clearTimeout(t); reject(e); },
      };
      try { this.ws.send(JSON.stringify(frame)); } catch (e) { this.inflight = null; clearTimeout(t); reject(e); }
    });
  }
  // Slow consumer: stop reading the TCP socket for ms.
  pauseReading(ms) {
    const s = this.ws && this.ws._socket;
    if (!s) return false;
    s.pause(); this.paused = true;
    setTimeout(() => { this.paused = false; try { s.resume(); } catch { /* closed */ } }, ms);
    return true;
  }
  close() {
    this.stopping = true;
    if (this.ws) try { this.ws.close(1000); } catch { /* gone */ }
  }
}

// Every message a sender tried: its client id, every attempt's outcome and the acks.
export class Sender {
  constructor({ user, cid, receiver, api, stats, messages, wsShare }) {
    Object.assign(this, { user, cid, receiver, api, stats, messages, wsShare });
  }
  async sendOne(stopAt, transportHint, pad = 0) {
    const cmid = randomUUID();
    const transport = transportHint || (Math.random() < this.wsShare ? 'ws' : 'rest');
    const m = { cmid, cid: this.cid, sender: this.user.id, transport, first: now(), attempts: 0, acks: [], errors: {} };
    m.content = `fault-load ${cmid}` + (pad ? ' ' + 'x'.repeat(pad) : '');
    this.messages.push(m);
    this.stats.sent++;
    let backoff = 200;
    while (now() < stopAt) {
      m.attempts++;
      if (m.attempts > 1) this.stats.retries++;
      try {
        let id, seq;
        if (transport === 'ws') {
          const a = await this.receiver.sendWs(cmid, m.content, 5000);
          id = a.id; seq = a.seq;
        } else {
          const r = await this.api.call('POST', `/conversations/${this.cid}/messages`, { content: m.content, client_message_id: cmid }, this.user.token, 5000);
          if (r.status === 201 || r.status === 200) { id = r.json.id; seq = r.json.seq; }
          else {
            if (r.status === 401) await this.user.relogin();
            if (r.status >= 400 && r.status < 500 && ![401, 408, 409, 429].includes(r.status)) {
              m.refused = r.status; this.stats.refused++; return m; // a real client would not retry a 4xx
            }
            throw new Error(`http ${r.status}`);
          }
        }
        m.acks.push({ id, seq, t: now(), attempt: m.attempts });
        if (m.acks.length === 1) { m.ack = now(); this.stats.acked++; }
        return m;
      } catch (e) {
        const k = String(e.message || e).slice(0, 40);
        m.errors[k] = (m.errors[k] || 0) + 1;
        await sleep(backoff + Math.random() * backoff);
        backoff = Math.min(backoff * 2, 2000);
      }
    }
    if (!m.ack) this.stats.gaveUp++;
    return m;
  }
}
