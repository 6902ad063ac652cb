// Security matrix: every REST route and both WebSocket paths against every kind of bad
// token, and every id parameter (path, query, body, WS frame) against the spellings and
// foreign ids that must neither work nor leak. Expectations: /work/shared/api-contract.md
// and README (401 JSON for any auth failure; a non-participant gets 404, same as an unknown
// id; ids in any letter case name one thing and come back lower-case; malformed ids 404/422;
// every error is JSON {"error":{"code","message"}}, never a 500), plus the rules being
// rolled out: only a room's owner/admins add members (403 for other members, 404 for
// non-members), /conversations/online lists only users sharing a conversation with the caller.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { BASE, api, user, direct, send, sleep, until } from './helpers.mjs';
import { client, convUrl, allUrl, closedWithin } from './wsclient.mjs';

const WS = process.env.CHAT_WS_URL || 'ws://127.0.0.1:18000';

// ---- raw HTTP: status, content type and body of any path, percent-encodings kept ----

async function call(method, path, body, token) {
  const headers = { 'content-type': 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  const r = await fetch(`${BASE}/api/v1${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { /* checked below */ }
  return { status: r.status, type: r.headers.get('content-type') || '', challenge: r.headers.get('www-authenticate'), text, json, what: `${method} ${path}` };
}

// Every error answer: JSON, the contract's shape, never a 5xx.
function assertError(r, status) {
  const where = `${r.what} -> ${r.status} ${r.text.slice(0, 160)}`;
  assert.ok(r.status < 500, `server error: ${where}`);
  if (status !== undefined) assert.ok([status].flat().includes(r.status), `expected ${status}: ${where}`);
  assert.match(r.type, /^application\/json/, `content type of ${where}`);
  assert.equal(typeof r.json?.error?.code, 'string', `error shape: ${where}`);
  assert.equal(typeof r.json.error.message, 'string', `error shape: ${where}`);
}

// A matrix reports every failing case at once, not only the first.
function softly() {
  const fails = [];
  const check = fn => {
    try { fn(); } catch (e) { if (!(e instanceof assert.AssertionError)) throw e; fails.push(e.message.split('\n').slice(0, 2).join(' ')); }
  };
  check.done = () => { if (fails.length) throw new assert.AssertionError({ message: `${fails.length} case(s) failed:\n${fails.join('\n')}` }); };
  return check;
}

// ---- tokens the API never issues ----

const b64 = o => Buffer.from(JSON.stringify(o)).toString('base64url');
const hs256 = (key, body) => createHmac('sha256', key).update(body).digest('base64url');
function jwt(claims, { key = readFileSync(`${process.env.CHAT_VAR_DIR}/secret_key`, 'utf8').trim(), alg = 'HS256' } = {}) {
  const body = `${b64({ alg, typ: 'JWT' })}.${b64(claims)}`;
  return alg === 'none' ? `${body}.` : `${body}.${hs256(key, body)}`;
}
const now = () => Math.floor(Date.now() / 1000);
const claims = (sub, iat = now(), exp = now() + 600) => ({ sub, jti: randomUUID(), typ: 'access', iat, exp });

// ---- the fixture: a few users and their resources, built once ----
// alice: the caller. bob: alice's partner (a plain member of her room).
// carol + dan: own resources alice has no access to. zed: a deleted account.
const F = {};

before(async () => {
  const [alice, bob, carol, dan, zed] = await Promise.all([user(), user(), user(), user(), user()]);
  Object.assign(F, { alice, bob, carol, dan, zed });
  F.dm = await direct(alice, bob);
  F.msg = (await send(F.dm, bob, 'alice-bob secret')).json.id;
  F.room = (await api('POST', '/chat/rooms', { name: 'alice room', member_ids: [bob.id] }, alice.token)).json.id;
  await api('POST', '/chat/messages', { room_id: F.room, content: 'alice room text' }, alice.token);
  // carol's: a direct conversation with a message, a room with a message
  F.cdm = await direct(carol, dan);
  F.cmsg = (await send(F.cdm, dan, 'carol-dan secret')).json.id;
  F.croom = (await api('POST', '/chat/rooms', { name: 'carol room', description: 'private', member_ids: [dan.id] }, carol.token)).json.id;
  await api('POST', '/chat/messages', { room_id: F.croom, content: 'carol room text' }, carol.token);
  // zed's own resources, then zed deletes the account
  F.zdm = await direct(zed, dan); // none with alice: she must not be able to open one
  F.zmsg = (await send(F.zdm, zed, 'from zed')).json.id;
  F.zroom = (await api('POST', '/chat/rooms', { name: 'zed room' }, zed.token)).json.id;
  assert.equal((await api('DELETE', '/users/me', null, zed.token)).status, 204);
  // strings that must never appear in an answer to alice about carol's things
  F.foreign = [F.cdm, F.cmsg, F.croom, 'carol-dan secret', 'carol room', 'carol room text', 'private', dan.name];
});

// What carol's side looks like, read as carol: compared before and after each foreign attempt.
async function carolState() {
  const c = F.carol.token;
  const [msgs, conv, room, rmsgs, receipts, typing] = await Promise.all([
    api('GET', `/conversations/${F.cdm}/messages`, null, c),
    api('GET', `/conversations/${F.cdm}`, null, c),
    api('GET', `/chat/rooms/${F.croom}`, null, c),
    api('GET', `/chat/rooms/${F.croom}/messages`, null, c),
    api('GET', `/conversations/messages/${F.cmsg}/read-receipts`, null, c),
    api('GET', `/conversations/${F.cdm}/typing`, null, c),
  ]);
  return {
    messages: msgs.json.messages.map(m => [m.id, m.content]),
    participants: conv.json.participants.map(p => p.user_id).sort(),
    room: [room.json.name, room.json.description, room.json.members.map(m => `${m.user_id}:${m.role}`).sort()],
    roomMessages: rmsgs.json.messages.map(m => m.id),
    receipts: (receipts.json.receipts ?? receipts.json).map(x => x.user_id).sort(),
    typing: typing.json.typing_users,
  };
}

// What alice's side looks like (for writes that name a foreign id in a body).
async function aliceState() {
  const a = F.alice.token;
  const [convs, rooms, room, dm] = await Promise.all([
    api('GET', '/conversations/', null, a), api('GET', '/chat/rooms', null, a),
    api('GET', `/chat/rooms/${F.room}`, null, a), api('GET', `/conversations/${F.dm}`, null, a),
  ]);
  return {
    convs: (convs.json.conversations ?? convs.json).map(c => c.id).sort(),
    rooms: (rooms.json.rooms ?? rooms.json).map(r => r.id).sort(),
    members: room.json.members.map(m => `${m.user_id}:${m.role}`).sort(),
    unread: dm.json.unread_count,
  };
}

// ---- ids: spellings and checks every id case uses ----

const up = id => id.toUpperCase();
// Malformed spellings of a valid id (each a whole path segment or field value). In a path,
// %00 never reaches chat-api: nginx will not decode it and answers 400 (in the error shape).
const MALFORMED = id => ({
  abc: 'abc',
  'NUL': '%00',
  '37 chars': `${id}a`,
  braces: `{${id}}`,
  'encoded braces': `%7B${id}%7D`,
  'no dashes': id.replace(/-/g, ''),
  'traversal': `..%2F${id}`,
});
const inPath = (what, ok = [404, 422]) => (what === 'NUL' ? [400, ...ok] : ok);
const lowerOnly = (r, upper) => assert.ok(!r.text.includes(upper), `${r.what}: an id came back upper-case: ${r.text.slice(0, 200)}`);
const noForeign = r => { for (const s of F.foreign) assert.ok(!r.text.includes(s), `${r.what} leaks "${s}": ${r.text.slice(0, 200)}`); };

// ---- 1. every protected route x every bad token: 401 JSON ----

// Each route with ids of the token owner's own resources (ids(o)) and a valid body, so
// that only the token can be what fails.
const ROUTES = [
  ['GET', () => '/users/me'],
  ['PUT', () => '/users/me', { display_name: 'x' }],
  ['DELETE', () => '/users/me'],
  ['GET', o => `/users/${o.user}`],
  ['GET', () => '/conversations'],
  ['GET', () => '/conversations/'],
  ['GET', () => '/conversations/online'],
  ['GET', o => `/conversations/direct?other_user_id=${o.other}`],
  ['POST', () => '/conversations/direct', o => ({ other_user_id: o.other })],
  ['POST', () => '/conversations/group', o => ({ type: 'group', name: 'g', participant_ids: [o.other] })],
  ['GET', o => `/conversations/messages/${o.msg}/read-receipts`],
  ['POST', o => `/conversations/messages/${o.msg}/read`],
  ['PATCH', o => `/conversations/messages/${o.msg}`, { content: 'must not be stored' }],
  ['DELETE', o => `/conversations/messages/${o.msg}`],
  ['POST', o => `/conversations/messages/${o.msg}/reactions`, { emoji: '👍' }],
  ['DELETE', o => `/conversations/messages/${o.msg}/reactions/${o.emoji ?? encodeURIComponent('👍')}`],
  ['GET', o => `/conversations/${o.conv}/events`],
  ['GET', o => `/conversations/${o.conv}`],
  ['GET', o => `/conversations/${o.conv}/messages`],
  ['POST', o => `/conversations/${o.conv}/messages`, { content: 'must not be stored' }],
  ['POST', o => `/conversations/${o.conv}/read`],
  ['POST', o => `/conversations/${o.conv}/typing`, { is_typing: true }],
  ['GET', o => `/conversations/${o.conv}/typing`],
  ['GET', o => `/conversations/${o.conv}/members`],
  ['POST', () => '/chat/rooms', { name: 'must not exist' }],
  ['GET', () => '/chat/rooms'],
  ['GET', o => `/chat/rooms/${o.room}`],
  ['PUT', o => `/chat/rooms/${o.room}`, { name: 'renamed' }],
  ['POST', o => `/chat/rooms/${o.room}/members/${o.other}`],
  ['DELETE', o => `/chat/rooms/${o.room}/members/${o.other}`],
  ['GET', o => `/chat/rooms/${o.room}/members`],
  ['GET', o => `/chat/rooms/${o.room}/messages`],
  ['POST', () => '/chat/messages', o => ({ room_id: o.room, content: 'must not be stored' })],
];

// The bad tokens, each with the resources it would name (its "owner's").
const aliceIds = () => ({ user: F.alice.id, other: F.bob.id, conv: F.dm, msg: F.msg, room: F.room });
const BAD_TOKENS = {
  'no token': () => [null, aliceIds()],
  'garbage': () => ['not-a-token', aliceIds()],
  'wrong key': () => [jwt(claims(F.alice.id), { key: randomBytes(32).toString('hex') }), aliceIds()],
  'alg none': () => [jwt(claims(F.alice.id), { alg: 'none' }), aliceIds()],
  'expired': () => [jwt(claims(F.alice.id, now() - 3600, now() - 60)), aliceIds()],
  'refresh token': () => [F.alice.refresh, aliceIds()],
  'unknown user': () => [jwt(claims(randomUUID())), aliceIds()], // the right key, no such account
  'deleted user': () => [F.zed.token, { user: F.zed.id, other: F.dan.id, conv: F.zdm, msg: F.zmsg, room: F.zroom }],
};

test('every protected route answers 401 JSON to every bad token, and stores nothing', async () => {
  const before = await aliceState();
  const zedBefore = (await api('GET', `/conversations/${F.zdm}/messages`, null, F.dan.token)).json.messages.length;
  const cases = [];
  for (const [variant, make] of Object.entries(BAD_TOKENS)) {
    const [token, ids] = make();
    for (const [method, path, body] of ROUTES) {
      cases.push(call(method, path(ids), typeof body === 'function' ? body(ids) : body, token)
        .then(r => { r.what = `[${variant}] ${r.what}`; return r; }));
    }
  }
  const check = softly();
  for (const r of await Promise.all(cases)) check(() => { assertError(r, 401); assert.match(r.challenge ?? '', /^Bearer/, `${r.what}: WWW-Authenticate`); });
  check.done();
  assert.deepEqual(await aliceState(), before, 'nothing written');
  assert.equal((await api('GET', `/conversations/${F.zdm}/messages`, null, F.dan.token)).json.messages.length, zedBefore, 'nothing stored by the deleted user');
  assert.equal((await api('GET', '/users/me', null, F.alice.token)).json.display_name, null, 'alice not renamed');
});

// The matrix follows the API: every operation openapi.json says needs a token is in ROUTES.
test('ROUTES covers every protected operation of openapi.json', async () => {
  const spec = (await api('GET', '/openapi.json')).json;
  const ops = [];
  for (const [path, item] of Object.entries(spec.paths))
    for (const [m, op] of Object.entries(item))
      if ((op.security ?? spec.security ?? []).length) ops.push(`${m.toUpperCase()} ${path.replace(/^\/api\/v1/, '')}`);
  const names = { user: '{user_id}', other: '{user_id}', conv: '{conversation_id}', msg: '{message_id}', room: '{room_id}', emoji: '{emoji}' };
  const ours = ROUTES.map(([m, path]) => `${m} ${path(names).split('?')[0]}`);
  assert.deepEqual([...new Set(ours)].sort(), [...new Set(ops)].sort());
});

// Another user's (valid) token on alice's resources: 404 like an unknown id, nothing of hers
// in the answer, nothing of hers changed.
test('another user\'s token on each of alice\'s resources: 404, nothing leaked or written', async () => {
  const before = await aliceState();
  const dmBefore = (await api('GET', `/conversations/${F.dm}/messages`, null, F.alice.token)).json;
  const check = softly();
  const mine = [F.alice.name, F.bob.name, 'alice-bob secret', 'alice room', 'alice group', F.dm, F.msg, F.room];
  for (const [method, path, body] of ROUTES) {
    const p = path(aliceIds()), b = typeof body === 'function' ? body(aliceIds()) : body;
    if (![F.dm, F.msg, F.room].some(id => JSON.stringify([p, b]).includes(id))) continue; // names nothing of alice's
    const r = await call(method, p, b, F.carol.token);
    r.what = `[carol's token] ${r.what}`;
    check(() => {
      assertError(r, 404);
      for (const x of mine) assert.ok(!r.text.includes(x), `${r.what} leaks "${x}": ${r.text}`);
    });
  }
  check.done();
  assert.deepEqual(await aliceState(), before, 'alice\'s conversations, rooms and members unchanged');
  const dm = (await api('GET', `/conversations/${F.dm}/messages`, null, F.alice.token)).json;
  assert.deepEqual(dm, dmBefore, 'no message stored or read in alice\'s conversation');
  const room = (await api('GET', `/chat/rooms/${F.room}`, null, F.alice.token)).json;
  assert.equal(room.name, 'alice room');
  // a public profile is the one exception: no e-mail
  const prof = await call('GET', `/users/${F.alice.id}`, undefined, F.carol.token);
  assert.equal(prof.status, 200);
  assert.equal(prof.json.email, undefined);
});

test('the caller\'s lists hold nothing of others\' conversations and rooms', async () => {
  for (const path of ['/conversations/', '/conversations', '/chat/rooms', '/users/me']) {
    const r = await call('GET', path, undefined, F.alice.token);
    assert.equal(r.status, 200, r.what);
    noForeign(r);
    assert.ok(!r.text.includes(F.zdm), `${r.what}: nothing of zed's`);
  }
});

test('unknown routes and methods: JSON errors (404, 405 with Allow)', async () => {
  const check = softly();
  for (const [m, path] of [['GET', '/nope'], ['GET', `/conversations/${F.dm}/nope`], ['PATCH', '/users/me'],
    ['DELETE', `/conversations/${F.dm}`], ['PUT', `/conversations/${F.dm}/messages`], ['PATCH', `/chat/rooms/${F.room}`]]) {
    const r = await call(m, path, undefined, F.alice.token);
    check(() => assertError(r, m === 'GET' ? 404 : 405));
  }
  check.done();
});

test('tokens only where they belong: an access token is no refresh token, a URL token authorises no REST call', async () => {
  assertError(await call('POST', '/auth/refresh', { refresh_token: F.alice.token }), 401);
  const r = await fetch(`${BASE}/api/v1/users/me?token=${F.alice.token}`);
  assert.equal(r.status, 401);
  assert.match(r.headers.get('content-type'), /^application\/json/);
  assert.equal((await r.json()).error.code, 'unauthorized');
});

test('public routes stay public whatever token comes with them', async () => {
  for (const token of [null, 'not-a-token', F.zed.token]) {
    for (const path of ['/health', '/openapi.json']) assert.equal((await call('GET', path, undefined, token)).status, 200, `${path} with ${token}`);
    const h = await fetch(`${BASE}/health`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
    assert.equal(h.status, 200);
    const login = await call('POST', '/auth/login', { username: F.bob.name, password: 'wrong-password' }, token);
    assertError(login, 401);
    assert.equal(login.json.error.code, 'invalid_credentials', 'login judges the credentials, not the header');
    assertError(await call('POST', '/auth/register', { username: 'x' }, token), 422);
    assertError(await call('POST', '/auth/refresh', { refresh_token: 'not-a-token' }, token), 401);
  }
});

// ---- 2. WebSocket: both paths x bad tokens x every way of giving one ----

const WAYS = {
  query: (path, t) => [`${WS}${path}?token=${encodeURIComponent(t)}`],
  header: (path, t) => [`${WS}${path}`, { headers: { authorization: `Bearer ${t}` } }],
  subprotocol: (path, t) => [`${WS}${path}`, ['chat', t]],
  'auth frame': (path, t) => [`${WS}${path}`, undefined, t],
};

// How a socket ended ('HTTP <status>' when the handshake was refused, else its close code,
// after the auth frame when one is given) and every frame it got.
async function wsOutcome(url, opts, frameToken) {
  const c = client(url, opts);
  try { await c.opened; } catch (e) { return { how: `HTTP ${e.status}`, events: c.events }; }
  if (frameToken !== undefined) c.send({ type: 'auth', token: frameToken });
  const code = await closedWithin(c, 8000);
  if (code === 'still open') c.ws.terminate();
  return { how: code, events: c.events };
}

// A WebSocket handshake's refusal as plain HTTP: status, content type, JSON body.
function handshake(path) {
  return new Promise((resolve, reject) => {
    const req = request(`${BASE}${path}`, { headers: { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': randomBytes(16).toString('base64') } });
    const what = `handshake ${path.replace(/token=[^&]+/, 'token=…')}`;
    req.on('upgrade', (res, socket) => { socket.destroy(); resolve({ status: 101, type: '', text: '(upgraded)', json: null, what }); });
    req.on('response', res => {
      let text = '';
      res.on('data', d => { text += d; }).on('end', () => {
        let json = null;
        try { json = JSON.parse(text); } catch { /* asserted */ }
        resolve({ status: res.statusCode, type: res.headers['content-type'] || '', text, json, what });
      });
    });
    req.on('error', reject).end();
  });
}

test('WebSocket handshake refusals are JSON errors too', async () => {
  const check = softly();
  for (const [path, status] of [[`/api/v1/ws?token=not-a-token`, 401], [`/api/v1/ws/conversations/${F.dm}?token=${F.alice.refresh}`, 401],
    [`/api/v1/ws/conversations/abc?token=${F.alice.token}`, 404], [`/api/v1/ws/nope?token=${F.alice.token}`, 404]]) {
    const r = await handshake(path);
    check(() => assertError(r, status));
  }
  check.done();
});

test('WebSocket: bad tokens are refused (HTTP 401) or closed with 4401, before any data', async () => {
  const paths = { conversation: `/api/v1/ws/conversations/${F.dm}`, all: '/api/v1/ws' };
  const cases = [];
  for (const [pname, path] of Object.entries(paths)) {
    for (const [variant, make] of Object.entries(BAD_TOKENS)) {
      if (variant === 'no token') continue;
      const [token] = make();
      for (const [way, mk] of Object.entries(WAYS)) {
        // a token that does not verify is refused at the handshake; over the auth frame,
        // and for a deleted user (its token verifies), the socket is closed with 4401
        const expect = way === 'auth frame' || variant.endsWith(' user') ? 4401 : 'HTTP 401';
        const args = mk(path.replace(F.dm, variant === 'deleted user' ? F.zdm : F.dm), token);
        cases.push(wsOutcome(...args).then(o => [`${pname} ${variant} via ${way}`, o, expect]));
      }
    }
    // no token at all: accepted, then closed 4401 after WS_AUTH_TIMEOUT_SECS
    cases.push(wsOutcome(`${WS}${path}`).then(o => [`${pname} no token`, o, 4401]));
    // another user's token on alice's conversation: not a member
    if (pname === 'conversation') {
      for (const [way, mk] of Object.entries(WAYS))
        cases.push(wsOutcome(...mk(path, F.carol.token)).then(o => [`${pname} carol's token via ${way}`, o, 4403]));
    }
  }
  for (const [what, o, expect] of await Promise.all(cases)) {
    assert.equal(o.how, expect, what);
    const data = o.events.filter(e => e.type !== 'error');
    assert.deepEqual(data, [], `${what}: no data before the check`);
    assert.ok(!JSON.stringify(o.events).includes('alice-bob secret'), `${what}: nothing leaked`);
  }
  // an authorised socket offered a bad token for renewal ({"type":"auth"}): refused, it stays
  const live = client(convUrl(WS, F.dm, F.alice.token));
  await live.opened;
  for (const [variant, make] of Object.entries({ ...BAD_TOKENS, "carol's token": () => [F.carol.token] })) {
    if (variant === 'no token') continue;
    const n = live.events.length;
    live.send({ type: 'auth', token: make()[0] });
    const e = await live.next(ev => live.events.indexOf(ev) >= n && ['error', 'auth_ok'].includes(ev.type));
    assert.equal(`${e.type} ${e.code}`, 'error unauthorized', `renewal with ${variant}`);
  }
  assert.equal(live.ws.readyState, 1, 'the socket stays, on its own token');
  await live.close();
});

// ---- 3. id parameters ----

// Path ids of read routes: [route(id), the id kind]. The upper-case spelling must answer
// exactly what the lower-case one does; a foreign or unknown id 404 like each other.
const READS = [
  [id => `/conversations/${id}`, 'conv'],
  [id => `/conversations/${id}/messages`, 'conv'],
  [id => `/conversations/${id}/typing`, 'conv'],
  [id => `/conversations/messages/${id}/read-receipts`, 'msg'],
  [id => `/conversations/${id}/events`, 'conv'],
  [id => `/chat/rooms/${id}`, 'room'],
  [id => `/chat/rooms/${id}/messages`, 'room'],
  [id => `/conversations/${F.dm}/messages?cursor=${id}`, 'msg'],
];
const own = () => ({ conv: F.dm, msg: F.msg, room: F.room });
const theirs = () => ({ conv: F.cdm, msg: F.cmsg, room: F.croom });

test('path ids of reads: upper case = lower case; foreign, unknown and malformed ids 404 without a trace', async () => {
  const a = F.alice.token;
  const check = softly();
  for (const [route, kind] of READS) {
    const id = own()[kind];
    const lower = await call('GET', route(id), undefined, a);
    assert.equal(lower.status, 200, lower.what);
    const upper = await call('GET', route(up(id)), undefined, a);
    assert.equal(upper.status, lower.status, upper.what);
    assert.deepEqual(upper.json, lower.json, `${upper.what}: same data as lower case`);
    lowerOnly(upper, up(id));
    const isCursor = route('x').includes('cursor=');
    // percent-encoded dashes are the same URI (RFC 3986 6.2.2.2; nginx decodes them): the same
    // answer, or a 404, never another resource
    const encoded = await call('GET', route(id.replace(/-/g, '%2D')), undefined, a);
    check(() => { if (encoded.status !== 404) assert.deepEqual(encoded.json, lower.json, encoded.what); else assertError(encoded, 404); });
    for (const [what, bad] of [['foreign', theirs()[kind]], ['random', randomUUID()]]) {
      const r = await call('GET', route(bad), undefined, a);
      r.what = `[${what}] ${r.what}`;
      // a cursor is a query value: not a message of this conversation is 422 (named), never the message
      check(() => { assertError(r, isCursor ? [404, 422] : 404); noForeign(r); });
    }
    for (const [what, bad] of Object.entries(MALFORMED(id))) {
      const r = await call('GET', route(bad), undefined, a);
      r.what = `[${what}] ${r.what}`;
      check(() => assertError(r, isCursor ? 422 : inPath(what)));
    }
  }
  // users are public profiles: another user's id works (no e-mail); a deleted or unknown one 404s
  const me = await call('GET', `/users/${F.alice.id}`, undefined, a);
  const meUp = await call('GET', `/users/${up(F.alice.id)}`, undefined, a);
  assert.equal(me.status, 200);
  assert.deepEqual(meUp.json, me.json);
  lowerOnly(meUp, up(F.alice.id));
  const other = await call('GET', `/users/${F.carol.id}`, undefined, a);
  assert.equal(other.status, 200);
  assert.equal(other.json.email, undefined, 'no e-mail of another user');
  for (const [what, bad] of [['deleted', F.zed.id], ['random', randomUUID()], ...Object.entries(MALFORMED(F.alice.id))]) {
    const r = await call('GET', `/users/${bad}`, undefined, a);
    r.what = `[${what}] ${r.what}`;
    check(() => assertError(r, inPath(what, [404])));
  }
  check.done();
});

// Writes on a path id. run(id) makes the call as alice. For the upper-case spelling the call
// is made with lower case first, then upper case, and both must answer the same status and
// name the same (lower-case) ids.
const WRITES = [
  ['conv', id => call('POST', `/conversations/${id}/messages`, { content: 'hello' }, F.alice.token)],
  ['conv', id => call('POST', `/conversations/${id}/read`, undefined, F.alice.token)],
  ['conv', id => call('POST', `/conversations/${id}/typing`, { is_typing: true }, F.alice.token)],
  ['msg', id => call('POST', `/conversations/messages/${id}/read`, undefined, F.alice.token)],
  // taking back a reaction that is not there: 204 both times, and nothing for a foreign id
  ['msg', id => call('DELETE', `/conversations/messages/${id}/reactions/${encodeURIComponent('👍')}`, undefined, F.alice.token)],
  ['room', id => call('PUT', `/chat/rooms/${id}`, { name: 'alice room' }, F.alice.token)],
  ['room', id => call('POST', `/chat/rooms/${id}/members/${F.bob.id}`, undefined, F.alice.token)],
  ['room', id => call('POST', '/chat/messages', { room_id: id, content: 'hello' }, F.alice.token)],
];

test('path and body ids of writes: upper case = lower case; foreign, unknown, malformed ids change nothing', async () => {
  for (const [kind, run] of WRITES) {
    const id = own()[kind];
    const lower = await run(id);
    assert.ok(lower.status < 300, `${lower.what} -> ${lower.status} ${lower.text}`);
    const upper = await run(up(id));
    assert.equal(upper.status, lower.status, `${upper.what}: ${upper.text}`);
    lowerOnly(upper, up(id));
    for (const k of ['id', 'conversation_id', 'message_id', 'user_id'])
      if (typeof lower.json?.[k] === 'string' && lower.json[k] === id) assert.equal(upper.json[k], id, `${upper.what}: ${k}`);
  }
  const carol = await carolState(), alice = await aliceState();
  const check = softly();
  for (const [kind, run] of WRITES) {
    for (const [what, bad] of [['foreign', theirs()[kind]], ['random', randomUUID()], ...Object.entries(MALFORMED(own()[kind]))]) {
      const r = await run(bad);
      r.what = `[${what}] ${r.what}`;
      check(() => { assertError(r, ['foreign', 'random'].includes(what) ? 404 : inPath(what)); noForeign(r); });
    }
  }
  check.done();
  assert.deepEqual(await carolState(), carol, 'carol\'s conversation, room, receipts and typing unchanged');
  assert.deepEqual(await aliceState(), alice, 'nothing of alice\'s changed');
});

test('room members: ids in any case; only the owner/admins add (403 for members, 404 for others), nothing changes otherwise', async () => {
  const { alice, bob, carol, dan } = F;
  const members = async () => (await api('GET', `/chat/rooms/${F.room}`, null, alice.token)).json.members.map(m => `${m.user_id}:${m.role}`).sort();
  const path = (rid, uid) => `/chat/rooms/${rid}/members/${uid}`;
  // add and remove dan with upper-case ids: as with lower case, answers name lower-case ids
  const add = await call('POST', path(up(F.room), up(dan.id)), undefined, alice.token);
  assert.equal(add.status, 201, add.text);
  lowerOnly(add, up(dan.id));
  assert.ok(add.json.members.some(m => m.user_id === dan.id));
  const again = await call('POST', path(F.room, dan.id), undefined, alice.token);
  assert.equal(again.status, 200, 'already a member, whatever the spelling');
  assert.equal((await call('DELETE', path(up(F.room), up(dan.id)), undefined, alice.token)).status, 204);
  // removed, dan is a stranger to the room again
  const formerCheck = softly();
  for (const [m, p, b] of [['GET', `/chat/rooms/${F.room}`], ['GET', `/chat/rooms/${F.room}/messages`],
    ['POST', '/chat/messages', { room_id: F.room, content: 'after removal' }], ['POST', path(F.room, dan.id)]]) {
    const r = await call(m, p, b, dan.token);
    r.what = `[former member] ${r.what}`;
    formerCheck(() => { assertError(r, 404); assert.ok(!r.text.includes('alice room'), `${r.what} leaks the room`); });
  }
  formerCheck.done();
  const start = await members();
  const carolRoom = (await carolState()).room;
  const cases = [
    // [who, method, room, user, expected]
    [bob, 'POST', F.room, dan.id, 403],                 // a plain member may not add
    [bob, 'POST', F.room, up(dan.id), 403],
    [bob, 'DELETE', F.room, alice.id, 403],             // nor remove others
    [carol, 'POST', F.room, carol.id, 404],             // a non-member learns nothing
    [carol, 'POST', F.room, dan.id, 404],
    [carol, 'DELETE', F.room, bob.id, 404],
    [carol, 'DELETE', up(F.room), up(bob.id), 404],
    [alice, 'POST', F.croom, alice.id, 404],            // alice into carol's room
    [alice, 'DELETE', F.croom, dan.id, 404],
    [alice, 'POST', F.room, F.zed.id, 404],             // deleted user
    [alice, 'POST', F.room, randomUUID(), 404],
    [alice, 'DELETE', F.room, randomUUID(), 404],
    [alice, 'DELETE', F.room, carol.id, 404],           // not a member
    ...Object.entries(MALFORMED(dan.id)).map(([what, bad]) => [alice, 'POST', F.room, bad, inPath(what)]),
    ...Object.entries(MALFORMED(F.room)).map(([what, bad]) => [alice, 'POST', bad, dan.id, inPath(what)]),
  ];
  const check = softly();
  for (const [who, method, rid, uid, expected] of cases) {
    const r = await call(method, path(rid, uid), undefined, who.token);
    r.what = `[${who === bob ? 'bob' : who === carol ? 'carol' : 'alice'}] ${r.what}`;
    check(() => {
      assertError(r, expected);
      if (who === carol) assert.ok(!r.text.includes('alice room') && !r.text.includes(bob.name), `${r.what} leaks the room`);
      noForeign(r);
    });
  }
  check.done();
  assert.deepEqual(await members(), start, 'alice\'s room members unchanged');
  assert.deepEqual((await carolState()).room, carolRoom, 'carol\'s room unchanged');
});

test('body and query ids: upper case = lower case; unknown, deleted and malformed ids answer alike and create nothing', async () => {
  const { alice, bob, carol } = F;
  const a = alice.token;
  // other_user_id: the same pair is the same conversation whatever the spelling
  for (const run of [id => call('POST', '/conversations/direct', { other_user_id: id }, a),
    id => call('GET', `/conversations/direct?other_user_id=${id}`, undefined, a)]) {
    const lower = await run(bob.id), upper = await run(up(bob.id));
    assert.equal(lower.json.id, F.dm, lower.what);
    assert.equal(upper.status, lower.status, upper.what);
    assert.deepEqual(upper.json, lower.json, `${upper.what}: same conversation, same answer`);
    lowerOnly(upper, up(bob.id));
  }
  // participant_ids / member_ids: the upper-case spelling makes the same members, lower-case
  const g = await call('POST', '/conversations/group', { type: 'group', name: 'up', participant_ids: [up(bob.id), up(carol.id)] }, a);
  assert.equal(g.status, 201, g.text);
  assert.deepEqual(g.json.participants.map(p => p.user_id).sort(), [alice.id, bob.id, carol.id].sort());
  lowerOnly(g, up(bob.id));
  const dup = await call('POST', '/conversations/group', { type: 'group', name: 'dup', participant_ids: [bob.id, up(bob.id)] }, a);
  assert.ok(dup.status === 201 || dup.status === 422, dup.text);
  if (dup.status === 201) assert.equal(dup.json.participants.length, 2, 'one bob, whatever the spelling');
  const rm = await call('POST', '/chat/rooms', { name: 'up room', member_ids: [up(bob.id)] }, a);
  assert.equal(rm.status, 201, rm.text);
  assert.deepEqual(rm.json.members.map(m => m.user_id).sort(), [alice.id, bob.id].sort());
  lowerOnly(rm, up(bob.id));
  // message_id in the read body, upper case: the same watermark
  const rdLower = await call('POST', `/conversations/${F.dm}/read`, { message_id: F.msg }, a);
  const rd = await call('POST', `/conversations/${F.dm}/read`, { message_id: up(F.msg) }, a);
  assert.equal(rd.status, 200, rd.text);
  assert.deepEqual(rd.json, rdLower.json);
  lowerOnly(rd, up(F.msg));

  // conversation_id in a send's body, upper case: the same conversation as the path's
  const sent = await call('POST', `/conversations/${F.dm}/messages`, { content: 'body id', conversation_id: up(F.dm) }, a);
  assert.equal(sent.status, 201, sent.text);
  assert.equal(sent.json.conversation_id, F.dm);
  lowerOnly(sent, up(F.dm));

  // unknown (random, deleted user, carol's message) and malformed ids: refused the same way,
  // nothing created anywhere
  const aliceBefore = await aliceState(), carolBefore = await carolState();
  const users = [['random', randomUUID()], ['deleted', F.zed.id], ...Object.entries(MALFORMED(bob.id))];
  const cases = [];
  for (const [what, bad] of users) {
    const unknown = what === 'random' || what === 'deleted';
    cases.push([what, unknown ? 404 : 422, await call('POST', '/conversations/direct', { other_user_id: bad }, a)]);
    cases.push([what, unknown ? 404 : [404, 422], await call('GET', `/conversations/direct?other_user_id=${bad}`, undefined, a)]);
    cases.push([what, unknown ? [404, 422] : 422, await call('POST', '/conversations/group', { type: 'group', name: 'x', participant_ids: [bob.id, bad] }, a)]);
    cases.push([what, unknown ? [404, 422] : 422, await call('POST', '/chat/rooms', { name: 'x', member_ids: [bob.id, bad] }, a)]);
  }
  for (const [what, bad] of [['foreign', F.cmsg], ['random', randomUUID()], ...Object.entries(MALFORMED(F.msg))])
    cases.push([what, [404, 422], await call('POST', `/conversations/${F.dm}/read`, { message_id: bad }, a)]);
  for (const [what, bad] of [['foreign', F.croom], ['random', randomUUID()]])
    cases.push([what, 404, await call('POST', '/chat/messages', { room_id: bad, content: 'x' }, a)]);
  // a body conversation_id other than the path's: refused, never sent to the conversation it names
  for (const [what, bad] of [['foreign', F.cdm], ['random', randomUUID()], ...Object.entries(MALFORMED(F.dm))])
    cases.push([what, [404, 422], await call('POST', `/conversations/${F.dm}/messages`, { content: 'x', conversation_id: bad }, a)]);
  for (const [what, bad] of Object.entries(MALFORMED(F.room)))
    cases.push([what, 422, await call('POST', '/chat/messages', { room_id: bad, content: 'x' }, a)]);
  const check = softly();
  for (const [what, expected, r] of cases) {
    r.what = `[${what}] ${r.what}`;
    check(() => { assertError(r, expected); noForeign(r); });
  }
  check.done();
  // a foreign id and an unknown one must be indistinguishable
  const pair = async mk => { const [f, u] = [await mk(F.cmsg), await mk(randomUUID())]; return [f, u]; };
  const [f, u] = await pair(id => call('POST', `/conversations/${F.dm}/read`, { message_id: id }, a));
  assert.deepEqual([f.status, f.json.error], [u.status, u.json.error], 'carol\'s message id answers as an unknown one');
  assert.deepEqual(await aliceState(), aliceBefore, 'no conversation or room created, no read state moved');
  assert.deepEqual(await carolState(), carolBefore);
});

test('GET /conversations/online lists only users who share a conversation with the caller', async () => {
  // Users of its own: other tests open direct conversations between the shared ones.
  const [alice, bob, carol, dan] = await Promise.all([user(), user(), user(), user()]);
  await direct(alice, bob);
  await direct(carol, dan);
  // carol (no conversation with alice) and bob (alice's partner) are online
  const sb = client(allUrl(WS, bob.token));
  const sc = client(allUrl(WS, carol.token));
  await Promise.all([sb.opened, sc.opened]);
  const online = async u => { const r = await api('GET', '/conversations/online', null, u.token); return r.json.online_user_ids ?? r.json.user_ids; };
  const carolSeen = await until(async () => (await online(dan)).includes(carol.id));
  const ids = await until(async () => { const l = await online(alice); return l.includes(bob.id) && l; });
  await Promise.all([sb.close(), sc.close()]);
  assert.ok(carolSeen, 'carol shows as online to dan (they share a conversation)');
  assert.ok(ids, 'bob shows as online to alice');
  assert.ok(!ids.includes(carol.id), 'carol shares no conversation with alice: not listed');
  assert.ok(!ids.includes(dan.id));
});

test('WebSocket ids: path id in any case; foreign, unknown and malformed conversation ids (path and frames) get nothing', async () => {
  const { alice, carol } = F;
  // upper-case path: opens, and events name the lower-case id
  const s = client(convUrl(WS, up(F.dm), alice.token));
  await s.opened;
  s.send({ type: 'message', content: 'upper path', client_message_id: 'u-1' });
  const ack = await s.next(e => e.type === 'ack');
  assert.equal(ack.conversation_id, F.dm);
  assert.ok(!JSON.stringify(s.events).includes(up(F.dm)), 'no upper-case id in any frame');
  // a per-conversation socket ignores a conversation_id in a frame: carol's gets nothing
  const carolBefore = await carolState();
  s.send({ type: 'message', content: 'aimed at carol', conversation_id: F.cdm, client_message_id: 'u-2' });
  const e2 = await s.next(e => (e.type === 'ack' && e.client_message_id === 'u-2') || e.type === 'error');
  if (e2.type === 'ack') assert.equal(e2.conversation_id, F.dm, 'stored in the socket\'s own conversation, if anywhere');
  else assert.ok(['validation_error', 'not_found'].includes(e2.code), JSON.stringify(e2));
  // a read receipt for carol's message: refused as on REST (422/404 there)
  const n2 = s.events.length;
  s.send({ type: 'read', message_id: F.cmsg });
  const e3 = await s.next(e => s.events.indexOf(e) >= n2 && ['error', 'read'].includes(e.type), 2000).catch(() => ({ type: 'nothing' }));
  assert.equal(e3.type, 'error', `read of carol's message: ${JSON.stringify(e3)}`);
  assert.ok(['validation_error', 'not_found'].includes(e3.code), e3.code);
  await s.close();

  // catch-up on the all-conversations socket: ?since= naming alice's conversation in upper
  // case replays it (lower-case ids); naming carol's replays nothing of hers. alice has read
  // hers, so only the since= entry can bring the message back.
  assert.equal((await api('POST', `/conversations/${F.dm}/read`, null, alice.token)).status, 200);
  const since = client(allUrl(WS, alice.token, `&since=${F.cdm}:0,${up(F.dm)}:0`));
  await since.opened;
  const replayed = await since.next(e => e.content === 'alice-bob secret');
  assert.equal(replayed.conversation_id, F.dm);
  await sleep(300);
  const sinceText = JSON.stringify(since.events);
  assert.ok(!sinceText.includes(F.cdm) && !sinceText.includes('carol-dan secret'), 'nothing of carol\'s conversation');
  assert.ok(!sinceText.includes(up(F.dm)), 'ids lower-case');
  await since.close();

  // path: foreign and unknown 4403 (alike), malformed refused with HTTP 404 or closed 4403
  const paths = [['foreign', F.cdm, 4403], ['random', randomUUID(), 4403],
    ...Object.entries(MALFORMED(F.dm)).map(([w, bad]) => [w, bad, w === 'NUL' ? ['HTTP 400', 'HTTP 404', 4403] : ['HTTP 404', 4403]])];
  const outcomes = await Promise.all(paths.map(([, id]) => wsOutcome(`${WS}/api/v1/ws/conversations/${id}?token=${alice.token}`)));
  const check = softly();
  paths.forEach(([what, , expected], i) => check(() => {
    assert.ok([expected].flat().includes(outcomes[i].how), `path ${what}: ${outcomes[i].how}`);
    assert.deepEqual(outcomes[i].events, [], `path ${what}: no frame`);
  }));

  // all-conversations socket: conversation_id in frames, in any case; foreign/unknown
  // not_found (alike), malformed validation_error or not_found; nothing stored for carol
  const all = client(allUrl(WS, alice.token));
  await all.opened;
  all.send({ type: 'message', conversation_id: up(F.dm), content: 'upper frame', client_message_id: 'a-1' });
  const ack3 = await all.next(e => e.type === 'ack' && e.client_message_id === 'a-1');
  assert.equal(ack3.conversation_id, F.dm);
  const frames = [['foreign', F.cdm, ['not_found']], ['random', randomUUID(), ['not_found']],
    ...Object.entries(MALFORMED(F.dm)).map(([w, bad]) => [w, bad, ['validation_error', 'not_found']])];
  for (const [what, cid, codes] of frames) {
    for (const frame of [{ type: 'message', content: 'x' }, { type: 'typing', is_typing: true }, { type: 'read' }]) {
      const n = all.events.length;
      all.send({ ...frame, conversation_id: cid });
      const e = await all.next(ev => all.events.indexOf(ev) >= n && ['error', 'ack', 'read'].includes(ev.type), 2000).catch(err => ({ type: 'nothing', err: err.message }));
      check(() => {
        assert.equal(e.type, 'error', `frame ${what} ${frame.type}: ${JSON.stringify(e).slice(0, 200)}`);
        assert.ok(codes.includes(e.code), `frame ${what} ${frame.type}: ${e.code}`);
        assert.equal(typeof e.message, 'string');
      });
    }
  }
  const foreignErr = all.events.filter(e => e.type === 'error');
  assert.ok(!JSON.stringify(all.events).includes('carol-dan secret'), 'nothing of carol\'s conversation');
  assert.ok(foreignErr.length > 0);
  await all.close();
  check.done();
  assert.deepEqual(await carolState(), carolBefore, 'carol\'s conversation unchanged');
});
