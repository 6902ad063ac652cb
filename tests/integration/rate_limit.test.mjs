// Rate limits, against the "strict" chat-api instance the test stack runs
// behind its own nginx port (CHAT_STRICT_BASE_URL) with low limits:
// RATE_LIMIT_REQUESTS_PER_MINUTE=5, RATE_LIMIT_AUTH_PER_MINUTE=3,
// RATE_LIMIT_MESSAGE_PER_MINUTE=3. It shares PostgreSQL and Redis with the
// main instance, so users registered there are valid here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import http from 'node:http';

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
// local), so a test gets its own per-IP bucket.
function loginFrom(ip, username, password) {
  const body = JSON.stringify({ username, password });
  const url = new URL(`${STRICT}/auth/login`);
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

function randomLoopback() {
  const b = () => 1 + Math.floor(Math.random() * 250);
  return `127.${b()}.${b()}.${b()}`;
}

test('login attempts are limited per IP and per account (brute force)', async () => {
  const a = await register();
  const ipA = randomLoopback();
  const fromA = [];
  for (let i = 0; i < 4; i++) fromA.push(await loginFrom(ipA, a.name, 'wrong-password'));
  assert.deepEqual(fromA, [401, 401, 401, 429]);
  // A fresh address still meets the account's own limit, even with the right password.
  assert.equal(await loginFrom(randomLoopback(), a.name, 'password123'), 429);
  // The per-IP limit holds for another account too.
  const b = await register();
  assert.equal(await loginFrom(ipA, b.name, 'password123'), 429);
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
