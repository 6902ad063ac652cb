// The REST side of the demo client: the session's tokens (kept in
// sessionStorage, so a reload keeps the session and closing the tab ends it),
// their refresh before the access token expires, and requests whose errors
// arrive as ApiError with the API's {"error":{"code","message"}}.

const PREFIX = '/api/v1';
const STORE = 'chat-demo-session';

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// Events: "token" (detail: the new access token, after a refresh),
// "ended" (detail: why; the session is gone, log in again).
export class Session extends EventTarget {
  #s = null;            // {access, refresh, user, expiresAt (ms)}
  #timer = 0;
  #refreshing = null;   // the refresh in flight: one at a time (tokens rotate)

  constructor() {
    super();
    try { this.#s = JSON.parse(sessionStorage.getItem(STORE)); } catch { this.#s = null; }
    if (this.#s) this.#schedule();
  }

  get user() { return this.#s?.user ?? null; }
  get token() { return this.#s?.access ?? null; }
  get active() { return this.#s !== null; }

  register(username, email, password) {
    return this.#start('/auth/register', { username, email, password });
  }

  login(username, password) {
    return this.#start('/auth/login', { username, password });
  }

  async logout() {
    const refresh = this.#s?.refresh;
    this.#end(null);
    if (refresh) await this.request('POST', '/auth/logout', { refresh_token: refresh }, { auth: false }).catch(() => {});
  }

  // A fresh pair now (the timer calls it ahead of expiry; a 401 too).
  refresh() {
    if (!this.#refreshing) {
      this.#refreshing = this.#doRefresh().finally(() => { this.#refreshing = null; });
    }
    return this.#refreshing;
  }

  // Refresh first when the access token expires within `marginMs`.
  async fresh(marginMs = 30000) {
    if (this.#s && this.#s.expiresAt - Date.now() < marginMs) await this.refresh();
    return this.token;
  }

  // fetch against the API: JSON in and out; a 401 refreshes once and retries.
  async request(method, path, body, { auth = true, retried = false } = {}) {
    const headers = {};
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (auth && this.token) headers.authorization = `Bearer ${this.token}`;
    let r;
    try {
      r = await fetch(PREFIX + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    } catch (e) {
      throw new ApiError(0, 'network_error', `the server cannot be reached (${e.message})`);
    }
    const text = await r.text();
    let json = null;
    try { json = text ? JSON.parse(text) : null; } catch { /* not JSON: reported below */ }
    if (r.ok) return json;
    if (r.status === 401 && auth && !retried && this.#s) {
      await this.refresh();
      return this.request(method, path, body, { auth, retried: true });
    }
    const err = json?.error;
    throw new ApiError(r.status, err?.code ?? `http_${r.status}`, err?.message ?? (r.statusText || 'request failed'));
  }

  async #start(path, body) {
    const pair = await this.request('POST', path, body, { auth: false });
    this.#keep(pair);
    return pair.user;
  }

  async #doRefresh() {
    if (!this.#s) throw new ApiError(401, 'unauthorized', 'not logged in');
    try {
      const pair = await this.request('POST', '/auth/refresh', { refresh_token: this.#s.refresh }, { auth: false });
      this.#keep(pair, this.#s.user);
      this.dispatchEvent(new CustomEvent('token', { detail: pair.access_token }));
    } catch (e) {
      // A refused refresh token (expired, revoked, reused) ends the session;
      // a network failure does not: the next attempt may succeed.
      if (e.status === 401 || e.status === 403) this.#end(`${e.code}: ${e.message}`);
      throw e;
    }
  }

  #keep(pair, user = pair.user) {
    this.#s = {
      access: pair.access_token,
      refresh: pair.refresh_token,
      user: pair.user ?? user,
      expiresAt: Date.now() + pair.expires_in * 1000,
    };
    sessionStorage.setItem(STORE, JSON.stringify(this.#s));
    this.#schedule();
  }

  // Refresh a minute before expiry (at 80% of a lifetime shorter than 5 minutes).
  #schedule() {
    clearTimeout(this.#timer);
    const left = this.#s.expiresAt - Date.now();
    const delay = Math.max(1000, Math.max(left - 60000, left * 0.8));
    this.#timer = setTimeout(() => this.refresh().catch(() => {
      if (this.#s) this.#timer = setTimeout(() => this.#schedule(), 5000); // retry while the network is down
    }), delay);
  }

  #end(why) {
    clearTimeout(this.#timer);
    this.#s = null;
    sessionStorage.removeItem(STORE);
    this.dispatchEvent(new CustomEvent('ended', { detail: why }));
  }
}
