// The demo web client's page: log in or register, the conversation list with
// unread counts and presence, a direct conversation by user id, history by
// cursor, live messages, typing and read marks. Only the public API is used:
// REST under /api/v1 (api.js) and the all-conversations socket (socket.js).
// Every text from the server goes into the page as text, never as markup.

import { Session, ApiError } from './api.js';
import { LiveSocket } from './socket.js';

const PAGE = 30;                 // history page size
const TYPING_RESEND_MS = 2500;   // while typing, say so this often...
const TYPING_IDLE_MS = 4000;     // ...and stop after this long without a key
const TYPING_SHOWN_MS = 6000;    // forget someone's typing after this without news
const READ_EVERY_MS = 500;       // read marks of one conversation, at most this often
const RESUME_MAX = 150;          // conversations named in since= (the gateway reads ~8 KiB of it)

const $ = (id) => document.getElementById(id);
const el = (tag, cls, text) => {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
};

const session = new Session();
let socket = null;
let convs = new Map();       // id -> state (see track())
let online = new Set();      // user ids with a live socket
let openId = null;           // the conversation shown
let frames = Promise.resolve();  // server events, handled one after another
const authWaiters = [];

const me = () => session.user?.id;

// ---- errors: every failure is shown, with the API's code and message ----

function showError(context, e) {
  const code = e instanceof ApiError ? e.code : (e?.code ?? 'error');
  const box = el('div', 'error');
  box.append(el('strong', '', `${context}: `), el('span', '', `${e?.message ?? e} `), el('code', '', `(${code})`));
  const close = el('button', 'small', 'Dismiss');
  close.type = 'button';
  close.addEventListener('click', () => box.remove());
  box.append(close);
  $('errors').append(box);
  setTimeout(() => box.remove(), 20000);
}

const guard = (context, fn) => async (...args) => {
  try { await fn(...args); } catch (e) { showError(context, e); }
};

// ---- conversation state ----

function track(info) {
  let c = convs.get(info.id);
  if (!c) {
    c = {
      id: info.id,
      info,
      messages: new Map(),  // seq -> message, once history is loaded
      lastSeq: info.last_message?.seq ?? 0,  // newest seq received: the resume point
      history: false,       // first page loaded
      cursor: null,
      hasMore: false,
      loading: false,
      unread: info.unread_count,
      myRead: info.unread_count === 0 ? (info.last_message?.seq ?? 0) : 0,
      peerRead: 0,          // the highest seq another member read
      typing: new Set(),
      typingTimer: 0,
    };
    convs.set(info.id, c);
  } else {
    c.info = { ...info, last_message: newer(c.info.last_message, info.last_message) };
    if (c.id !== openId) c.unread = info.unread_count;
  }
  return c;
}

const newer = (a, b) => (!a ? b : !b ? a : (b.seq > a.seq ? b : a));

function title(c) {
  if (c.info.type !== 'direct') return c.info.name || 'Group';
  const other = c.info.participants.find((p) => p.user_id !== me());
  return other ? (other.display_name || other.username) : 'Just me';
}

function otherMember(c) {
  return c.info.type === 'direct' ? c.info.participants.find((p) => p.user_id !== me()) : null;
}

function username(c, id) {
  if (id === me()) return 'You';
  return c.info.participants.find((p) => p.user_id === id)?.username ?? 'someone';
}

async function loadConversations() {
  const r = await session.request('GET', '/conversations/');
  for (const info of r.conversations) track(info);
  renderList();
}

async function loadOnline() {
  const r = await session.request('GET', '/conversations/online');
  online = new Set(r.online_user_ids);
  renderList();
  renderHeader();
}

// ---- the conversation list ----

function renderList() {
  const list = $('conv-list');
  const focused = document.activeElement?.closest?.('#conv-list .conv-item')?.dataset.id;
  const sorted = [...convs.values()].sort((a, b) => activity(b) - activity(a));
  list.replaceChildren(...sorted.map(item));
  $('conv-empty').hidden = sorted.length > 0;
  if (focused) list.querySelector(`.conv-item[data-id="${focused}"]`)?.focus();  // keyboard users keep their place
}

const activity = (c) => Date.parse(c.info.last_message?.created_at ?? c.info.created_at);

function item(c) {
  const li = el('li');
  const b = el('button', 'conv-item');
  b.type = 'button';
  b.dataset.id = c.id;
  if (c.id === openId) b.setAttribute('aria-current', 'true');
  const other = otherMember(c);
  const name = el('span', 'name', title(c));
  b.append(name);
  if (other) b.append(presenceDot(online.has(other.user_id)));
  if (c.unread > 0) {
    const badge = el('span', 'badge', String(c.unread));
    badge.setAttribute('aria-label', `${c.unread} unread`);
    b.append(badge);
  }
  const last = c.typing.size ? 'typing…' : (c.info.last_message?.content ?? 'no messages yet');
  b.append(el('span', 'preview', last));
  b.addEventListener('click', guard('Opening the conversation', () => openConversation(c.id)));
  li.append(b);
  return li;
}

function presenceDot(isOnline) {
  const s = el('span', `dot ${isOnline ? 'on' : 'off'}`);
  s.append(el('span', 'visually-hidden', isOnline ? 'online' : 'offline'));
  s.title = isOnline ? 'online' : 'offline';
  return s;
}

// ---- one conversation ----

async function openConversation(id) {
  if (openId && openId !== id) stopTyping();
  openId = id;
  const c = convs.get(id);
  $('conv-none').hidden = true;
  $('conv-open').hidden = false;
  renderHeader();
  renderList();
  $('message-list').replaceChildren();
  renderTyping();
  if (!c.history) await loadOlder(c);
  renderMessages(c, 'bottom');
  scheduleRead(c);
  $('compose-text').focus();
}

function renderHeader() {
  const c = convs.get(openId);
  if (!c) return;
  $('conv-name').textContent = title(c);
  const other = otherMember(c);
  const p = $('conv-presence');
  p.replaceChildren();
  if (other) {
    const on = online.has(other.user_id);
    p.append(presenceDot(on), el('span', 'presence-text', on ? 'online' : 'offline'));
  }
}

async function loadOlder(c) {
  if (c.loading || (c.history && !c.hasMore)) return;
  c.loading = true;
  try {
    const q = new URLSearchParams({ limit: String(PAGE) });
    if (c.cursor) q.set('cursor', c.cursor);
    const page = await session.request('GET', `/conversations/${c.id}/messages?${q}`);
    for (const m of page.messages) {
      c.messages.set(m.seq, m);
      if (m.sender_id === me() && m.read_status === 'read') c.peerRead = Math.max(c.peerRead, m.seq);
    }
    c.cursor = page.next_cursor;
    c.hasMore = page.has_more;
    if (!c.history) {
      c.history = true;
      // the first page is complete up to its newest message
      if (page.messages.length) c.lastSeq = Math.max(c.lastSeq, page.messages[0].seq);
    }
  } finally {
    c.loading = false;
  }
}

const loadOlderShown = guard('Loading older messages', async () => {
  const c = convs.get(openId);
  if (!c || c.loading || !c.hasMore) return;
  const box = $('messages');
  const fromBottom = box.scrollHeight - box.scrollTop;
  await loadOlder(c);
  if (c.id !== openId) return;
  renderMessages(c);
  box.scrollTop = box.scrollHeight - fromBottom;  // keep what was on screen in place
});

// where: 'bottom' (scroll to the newest), or keep the position unless already at the bottom.
// Only new messages are added to the list (a screen reader announces just those), and only
// the read marks of the others change.
function renderMessages(c, where) {
  if (c.id !== openId) return;
  const box = $('messages');
  const list = $('message-list');
  const atBottom = where === 'bottom' || box.scrollHeight - box.scrollTop - box.clientHeight < 40;
  const shown = new Map([...list.children].map((li) => [Number(li.dataset.seq), li]));
  let prev = null;
  for (const m of [...c.messages.values()].sort((a, b) => a.seq - b.seq)) {
    let li = shown.get(m.seq);
    if (!li) {
      li = messageItem(m);
      if (prev) prev.after(li); else list.prepend(li);
    }
    if (m.sender_id === me()) setStatus(li, c, m);
    prev = li;
  }
  $('load-older').hidden = !c.hasMore;
  if (atBottom) box.scrollTop = box.scrollHeight;
}

const STATUS_TEXT = { sent: '✓ Sent', delivered: '✓✓ Delivered', read: '✓✓ Read' };

function setStatus(li, c, m) {
  const status = m.seq <= c.peerRead ? 'read' : m.read_status === 'delivered' ? 'delivered' : 'sent';
  const s = li.querySelector('.status');
  if (s.dataset.status === status) return;
  s.dataset.status = status;
  s.className = `status ${status}`;
  s.textContent = STATUS_TEXT[status];
}

function messageItem(m) {
  const mine = m.sender_id === me();
  const li = el('li', `msg ${mine ? 'mine' : 'theirs'}`);
  li.dataset.seq = m.seq;
  li.dataset.id = m.id;
  const meta = el('div', 'meta');
  meta.append(el('span', 'who', mine ? 'You' : m.sender?.username ?? 'someone'));
  const t = el('time', '', new Date(m.created_at).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }));
  t.dateTime = m.created_at;
  meta.append(t);
  if (mine) meta.append(el('span', 'status'));
  li.append(meta, el('p', 'text', m.content));
  return li;
}

function renderTyping() {
  const c = convs.get(openId);
  const names = c ? [...c.typing].map((id) => username(c, id)) : [];
  $('typing').textContent = names.length ? `${names.join(', ')} ${names.length > 1 ? 'are' : 'is'} typing…` : '';
}

// ---- read marks: what is on screen while the page is visible is read ----

// At most one mark per conversation every READ_EVERY_MS (read marks are rate limited).
function scheduleRead(c) {
  if (c.readTimer) return;
  c.readTimer = setTimeout(guard('Marking as read', async () => {
    c.readTimer = 0;
    if (c.id !== openId || document.visibilityState !== 'visible') return;
    if (c.unread === 0 && c.myRead >= c.lastSeq) return;
    const r = await session.request('POST', `/conversations/${c.id}/read`, {});
    c.myRead = Math.max(c.myRead, r.last_read_seq);
    c.unread = 0;
    renderList();
  }), READ_EVERY_MS);
}

// ---- server events ----

function onFrame(f) {
  frames = frames.then(() => handleFrame(f)).catch((e) => showError('Live update', e));
}

async function handleFrame(f) {
  switch (f.type) {
    case 'message':
    case 'offline_message':
      return onMessage(f, true);
    case 'typing_indicator': {
      const c = convs.get(f.conversation_id);
      if (!c) return;
      c.typing = new Set(f.typing_users.filter((id) => id !== me()));
      clearTimeout(c.typingTimer);
      if (c.typing.size) c.typingTimer = setTimeout(() => { c.typing.clear(); renderTyping(); renderList(); }, TYPING_SHOWN_MS);
      renderTyping();
      renderList();
      return;
    }
    case 'read': {
      const c = convs.get(f.conversation_id);
      if (!c) return;
      if (f.user_id === me()) {
        c.myRead = Math.max(c.myRead, f.seq);
        if (c.myRead >= c.lastSeq) c.unread = 0;
        renderList();
      } else if (f.seq > c.peerRead) {
        c.peerRead = f.seq;
        renderMessages(c);
      }
      return;
    }
    case 'presence':
      if (f.online) online.add(f.user_id); else online.delete(f.user_id);
      renderList();
      renderHeader();
      return;
    case 'auth_ok':
      while (authWaiters.length) authWaiters.shift()(f.expires_at);
      return;
    case 'error':
      showError('Server', new ApiError(0, f.code, f.message + (f.retry_after ? ` (retry in ${f.retry_after} s)` : '')));
      return;
    default:
      return;  // ack and anything newer: nothing to show
  }
}

// A message from the socket (live), or the answer to our own send (not live:
// it does not move the resume point, since earlier ones may still be on the way).
async function onMessage(m, live) {
  let c = convs.get(m.conversation_id);
  if (!c) {  // a conversation that is new to us, and members whose presence we did not follow
    await loadConversations();
    await loadOnline();
    c = convs.get(m.conversation_id);
    if (!c) return;
  }
  const fresh = live && m.seq > c.lastSeq;
  if (fresh) c.lastSeq = m.seq;
  if (c.history) c.messages.set(m.seq, { ...m, type: undefined });
  c.info.last_message = newer(c.info.last_message, m);
  if (m.sender_id && c.typing.delete(m.sender_id)) renderTyping();
  if (fresh && m.sender_id !== me()) {
    if (c.id === openId && document.visibilityState === 'visible') scheduleRead(c);
    else c.unread += 1;
  }
  renderList();
  renderMessages(c, m.sender_id === me() ? 'bottom' : undefined);
}

// ---- sending and typing ----

let unsent = null;  // {cid, content, id}: the last send that failed

// 32 hex digits (crypto.randomUUID needs a secure context; plain http on a LAN is not one)
const randomId = () => [...crypto.getRandomValues(new Uint8Array(16))].map((b) => b.toString(16).padStart(2, '0')).join('');

const send = guard('Sending', async (e) => {
  e.preventDefault();
  const c = convs.get(openId);
  const box = $('compose-text');
  const content = box.value.trim();
  if (!c || !content) return;
  box.value = '';
  stopTyping();
  // REST gives every send a definite answer; resending a failed text reuses its
  // client_message_id, so a send that did arrive is not stored twice.
  if (unsent?.cid !== c.id || unsent.content !== content) unsent = { cid: c.id, content, id: randomId() };
  try {
    const m = await session.request('POST', `/conversations/${c.id}/messages`,
      { content, client_message_id: unsent.id });
    unsent = null;
    await onMessage(m, false);
  } catch (err) {
    if (!box.value) box.value = content;  // keep the text to try again
    throw err;
  }
});

let typingSentAt = 0;
let typingIdle = 0;
let typingIn = null;

function typing(isTyping, cid) {
  const frame = { type: 'typing', is_typing: isTyping, conversation_id: cid };
  if (socket?.send(frame)) return;
  session.request('POST', `/conversations/${cid}/typing`, { is_typing: isTyping })
    .catch((e) => showError('Typing', e));
}

function onInput() {
  if (!openId) return;
  const now = Date.now();
  if (typingIn !== openId || now - typingSentAt > TYPING_RESEND_MS) {
    typingIn = openId;
    typingSentAt = now;
    typing(true, openId);
  }
  clearTimeout(typingIdle);
  typingIdle = setTimeout(stopTyping, TYPING_IDLE_MS);
}

function stopTyping() {
  clearTimeout(typingIdle);
  if (typingIn) typing(false, typingIn);
  typingIn = null;
  typingSentAt = 0;
}

// ---- starting a direct conversation ----

const startDirect = guard('Starting the conversation', async (e) => {
  e.preventDefault();
  const id = $('direct-user').value.trim().toLowerCase();
  const user = await session.request('GET', `/users/${encodeURIComponent(id)}`);
  const conv = await session.request('POST', '/conversations/direct', { other_user_id: user.id });
  track(conv);
  $('direct-user').value = '';
  await loadConversations();
  await loadOnline();
  await openConversation(conv.id);
});

// ---- the connection's state ----

function onSocketState(e) {
  const { state, delay } = e.detail;
  const conn = $('conn');
  conn.dataset.state = state;
  conn.textContent = {
    connecting: 'connecting…',
    open: 'live',
    waiting: `reconnecting in ${Math.ceil(delay / 1000)} s…`,
    closed: 'offline',
  }[state];
  // presence and typing may have changed while the socket was away
  if (state === 'open') loadOnline().catch((err) => showError('Online users', err));
}

// ---- log in, log out ----

// Where the socket resumes: the most recently active conversations at the last seq
// received (any others start at the read watermark, and repeats are dropped by seq).
function resumePoints() {
  const recent = [...convs.values()].sort((a, b) => activity(b) - activity(a)).slice(0, RESUME_MAX);
  return new Map(recent.map((c) => [c.id, c.lastSeq]));
}

async function enterChat() {
  $('auth-view').hidden = true;
  $('chat-view').hidden = false;
  $('whoami').hidden = false;
  $('me-name').textContent = session.user.username;
  $('me-id').textContent = session.user.id;
  // without the list the socket still starts: what it brings loads the list again
  await loadConversations().catch((e) => showError('Loading conversations', e));
  socket = new LiveSocket(session, resumePoints);
  socket.addEventListener('frame', (e) => onFrame(e.detail));
  socket.addEventListener('state', onSocketState);
  socket.addEventListener('fatal', (e) => showError('Connection', new Error(e.detail)));
  socket.start();
}

function leaveChat() {
  socket?.stop();
  socket = null;
  convs = new Map();
  online = new Set();
  openId = null;
  $('conv-list').replaceChildren();
  $('message-list').replaceChildren();
  $('conv-open').hidden = true;
  $('conv-none').hidden = false;
  $('chat-view').hidden = true;
  $('whoami').hidden = true;
  $('auth-view').hidden = false;
}

function authForm(id, context, run) {
  $(id).addEventListener('submit', guard(context, async (e) => {
    e.preventDefault();
    const form = e.currentTarget;
    const data = Object.fromEntries(new FormData(form));
    await run(data);
    form.reset();
    await enterChat();
  }));
}

authForm('login-form', 'Logging in', (d) => session.login(d.username, d.password));
authForm('register-form', 'Registering', (d) => session.register(d.username, d.email, d.password));

$('logout').addEventListener('click', guard('Logging out', () => session.logout()));
session.addEventListener('ended', (e) => {
  leaveChat();
  if (e.detail) showError('Session', new Error(e.detail));
});

$('copy-id').addEventListener('click', guard('Copying', () => navigator.clipboard.writeText(session.user.id)));
$('direct-form').addEventListener('submit', startDirect);
$('compose').addEventListener('submit', send);
$('compose-text').addEventListener('input', onInput);
$('compose-text').addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
    e.preventDefault();
    $('compose').requestSubmit();
  }
});
$('load-older').addEventListener('click', loadOlderShown);
$('messages').addEventListener('scroll', () => { if ($('messages').scrollTop < 40) loadOlderShown(); });
document.addEventListener('visibilitychange', () => {
  const c = convs.get(openId);
  if (c && document.visibilityState === 'visible') scheduleRead(c);
});

// For the console and the tests: the session, and the socket's controls.
window.chatDemo = {
  session,
  get socket() { return socket; },
  dropSocket: () => socket?.drop(),
  // refresh the tokens now; resolves with the new expiry once the socket took the new token
  refreshNow: () => new Promise((resolve, reject) => {
    authWaiters.push(resolve);
    session.refresh().catch(reject);
  }),
};

if (session.active) guard('Loading', enterChat)(); else $('auth-view').hidden = false;
