// Rate limits, against the "strict" chat-api instance the test stack runs
// behind its own nginx port (CHAT_STRICT_BASE_URL) with low limits:
// RATE_LIMIT_REQUESTS_PER_MINUTE=5, RATE_LIMIT_AUTH_PER_MINUTE=8,
// RATE_LIMIT_MESSAGE_PER_MINUTE=3, RATE_LIMIT_TYPING_PER_MINUTE=3,
// RATE_LIMIT_READ_PER_MINUTE=3, LOGIN_FAILURES_PER_ADDRESS=3,
// LOGIN_FAILURES_PER_ACCOUNT=5. It shares PostgreSQL and Redis with the
// main instance, so users registered there are valid here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import { execSync } from 'node:child_process';

const STRICT = `${process.env.CHAT_STRICT_BASE_URL || 'http://127.0.0.1:18001'}/api/v1`;
const MAIN = `${process.env.CHAT_BASE_URL || 'http://127.0.0.1:18000'}/api/v1`;

async function call(base, method, path, { body, token, headers = {} } = {}) {
  const h = { ...headers };
  if (token) h.authorization = `Bearer ${token}`;
  if (body !== undefined) h['content-type'] = 'application/json';
  const res = await fetch(base + path, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, headers: res.headers, json: text ? JSON.parse(text) : null };
}

async function register() {
  const name = `rl${randomUUID().replace(/-/g, '').slice(0, 12)}`;
  const r = await call(MAIN, 'POST', '/auth/register', { body: { username: name, email: `${name}@example.com`, password: 'password123' } });
  assert.equal(r.status, 201);
  return { id: r.json.user.id, token: r.json.access_token, name };
}

test('per-user request limit answers 429 with Retry-After and X-RateLimit headers', async () => {
  const a = await register();
  const statuses = [];
  let last;
  for (let i = 0; i < 7; i++) {
    last = await call(STRICT, 'GET', '/users/me', { token: a.token });
    statuses.push(last.status);
    if (i === 0) {
      assert.equal(last.headers.get('x-ratelimit-limit'), '5');
      assert.equal(last.headers.get('x-ratelimit-remaining'), '4');
      assert.ok(Number(last.headers.get('x-ratelimit-reset')) > 0);
    }
  }
  assert.deepEqual(statuses, [200, 200, 200, 200, 200, 429, 429]);
  assert.equal(last.json.error.code, 'rate_limited');
  const retry = Number(last.headers.get('retry-after'));
  assert.ok(retry >= 1 && retry <= 60, `Retry-After ${retry}`);
  // Another user is not affected.
  const b = await register();
  assert.equal((await call(STRICT, 'GET', '/users/me', { token: b.token })).status, 200);
});

// A request from a chosen loopback source address (127.0.0.0/8 is all
// local), so a test gets its own per-address buckets. Resolves the status
// (and Retry-After, when there is one, as .retry).
function postFrom(ip, path, payload) {
  const body = JSON.stringify(payload);
  const url = new URL(`${STRICT}${path}`);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: url.hostname, port: url.port, path: url.pathname, method: 'POST', localAddress: ip,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, res => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('error', reject);
    req.end(body);
  });
}
const loginFrom = (ip, username, password) => postFrom(ip, '/auth/login', { username, password });

function randomLoopback() {
  const b = () => 1 + Math.floor(Math.random() * 250);
  return `127.${b()}.${b()}.${b()}`;
}

test('failed logins are counted per (address, account), whichever name is typed', async () => {
  const a = await register();
  const guesser = randomLoopback();
  const got = [await loginFrom(guesser, a.name, 'wrong-password'),
    await loginFrom(guesser, `${a.name}@example.com`, 'wrong-password'),
    await loginFrom(guesser, a.name.toUpperCase(), 'wrong-password')];
  assert.deepEqual(got, [401, 401, 401]);
  assert.equal(await loginFrom(guesser, `${a.name}@EXAMPLE.com`, 'password123'), 429,
    'the guessing address waits, even with the right password, by either name');
  // The same address may still log in to another account: the count is per account.
  const b = await register();
  assert.equal(await loginFrom(guesser, b.name, 'password123'), 200);
  // And the account's owner, elsewhere, is not locked out by the stranger.
  assert.equal(await loginFrom(randomLoopback(), a.name, 'password123'), 200);
});

test('failures spread over many addresses meet the account-wide limit, but not the owner\'s familiar address', async () => {
  const a = await register();
  const home = randomLoopback();
  assert.equal(await loginFrom(home, a.name, 'password123'), 200);
  for (let i = 0; i < 5; i++) assert.equal(await loginFrom(randomLoopback(), a.name, 'wrong-password'), 401);
  assert.equal(await loginFrom(randomLoopback(), a.name, 'password123'), 429, 'an unfamiliar address waits');
  assert.equal(await loginFrom(home, a.name, 'password123'), 200, 'the owner still gets in from home');
  // A name that matches no account is throttled the same way (no hint that it does not exist).
  const ghost = `ghost${randomUUID().slice(0, 8)}`, ip = randomLoopback();
  const tries = [];
  for (let i = 0; i < 4; i++) tries.push(await loginFrom(ip, ghost, 'wrong-password'));
  assert.deepEqual(tries, [401, 401, 401, 429]);
});

test('login and register attempts are limited per address', async () => {
  const ip = randomLoopback();
  const got = [];
  for (let i = 0; i < 9; i++) got.push(await loginFrom(ip, `nobody${i}${randomUUID().slice(0, 6)}`, 'wrong-password'));
  assert.deepEqual(got, [401, 401, 401, 401, 401, 401, 401, 401, 429]);
  const name = `rl${randomUUID().replace(/-/g, '').slice(0, 12)}`;
  assert.equal(await postFrom(ip, '/auth/register', { username: name, email: `${name}@example.com`, password: 'password123' }), 429);
});

test('messages per minute per user', async () => {
  const a = await register(); const b = await register();
  const conv = (await call(MAIN, 'POST', '/conversations/direct', { token: a.token, body: { other_user_id: b.id } })).json;
  const statuses = [];
  for (let i = 0; i < 4; i++)
    statuses.push((await call(STRICT, 'POST', `/conversations/${conv.id}/messages`, { token: a.token, body: { content: `m${i}` } })).status);
  assert.deepEqual(statuses, [201, 201, 201, 429]);
  const page = await call(MAIN, 'GET', `/conversations/${conv.id}/messages`, { token: a.token });
  assert.equal(page.json.messages.length, 3, 'nothing stored for the limited send');
});

test('typing signals and read marks per minute per user, with the 429 shape of messages', async () => {
  const a = await register(); const b = await register(); const c = await register();
  const conv = (await call(MAIN, 'POST', '/conversations/direct', { token: a.token, body: { other_user_id: b.id } })).json;
  const typing = [];
  let last;
  for (let i = 0; i < 4; i++) {
    last = await call(STRICT, 'POST', `/conversations/${conv.id}/typing`, { token: a.token, body: { is_typing: i % 2 === 0 } });
    typing.push(last.status);
  }
  assert.deepEqual(typing, [200, 200, 200, 429]);
  assert.equal(last.json.error.code, 'rate_limited');
  assert.ok(Number(last.headers.get('retry-after')) >= 1);
  // read marks: by conversation and by message, one bucket (b's own)
  const m = (await call(MAIN, 'POST', `/conversations/${conv.id}/messages`, { token: a.token, body: { content: 'hi' } })).json;
  const reads = [
    (await call(STRICT, 'POST', `/conversations/${conv.id}/read`, { token: b.token, body: {} })).status,
    (await call(STRICT, 'POST', `/conversations/messages/${m.id}/read`, { token: b.token })).status,
    (await call(STRICT, 'POST', `/conversations/${conv.id}/read`, { token: b.token, body: {} })).status,
    (await call(STRICT, 'POST', `/conversations/messages/${m.id}/read`, { token: b.token })).status,
  ];
  assert.deepEqual(reads, [200, 200, 200, 429]);
  // another user's buckets are their own
  const conv2 = (await call(MAIN, 'POST', '/conversations/direct', { token: c.token, body: { other_user_id: b.id } })).json;
  assert.equal((await call(STRICT, 'POST', `/conversations/${conv2.id}/typing`, { token: c.token, body: { is_typing: true } })).status, 200);
});

test('with Redis down, login is not throttled (fails open, like every limit) and answers as usual', async () => {
  const a = await register();
  execSync(`${process.env.CHAT_STACK} redis-stop`);
  try {
    const ip = randomLoopback();
    const got = [];
    for (let i = 0; i < 5; i++) got.push(await loginFrom(ip, a.name, 'wrong-password'));
    assert.deepEqual(got, [401, 401, 401, 401, 401], 'no 429 (nothing counts), no 5xx');
    assert.equal(await loginFrom(ip, a.name, 'password123'), 200);
  } finally {
    execSync(`${process.env.CHAT_STACK} redis-start`);
  }
});
