// A hung dependency (SIGSTOP through $CHAT_STACK pg-pause / redis-pause) gives chat-api a quick
// 503, never a hang, and everything works again soon after it resumes. The stack runs with
// DB_STATEMENT_TIMEOUT_MS=1000 (scripts/stack.sh), so a statement is given up after about 1.5 s.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execSync } from 'node:child_process';
import { until } from './helpers.mjs';

const BASE = process.env.CHAT_BASE_URL || 'http://127.0.0.1:18000';
const STACK = process.env.CHAT_STACK;
// Longer than any bound of ours: a request still unanswered then is hung.
const HANG_MS = 8000;

async function timed(path, init = {}) {
  const t0 = Date.now();
  try {
    const r = await fetch(BASE + path, { ...init, signal: AbortSignal.timeout(HANG_MS) });
    const text = await r.text();
    return { status: r.status, json: text ? JSON.parse(text) : null, ms: Date.now() - t0 };
  } catch (e) {
    return { status: 0, error: String(e), ms: Date.now() - t0 };
  }
}

function api(method, path, body, token) {
  const headers = { 'content-type': 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  return timed(`/api/v1${path}`, { method, headers, body: body ? JSON.stringify(body) : undefined });
}

async function user() {
  const name = `t${Math.random().toString(36).slice(2, 12)}`;
  const r = await api('POST', '/auth/register', { username: name, email: `${name}@example.com`, password: 'password123' });
  assert.equal(r.status, 201);
  return { id: r.json.user.id, token: r.json.access_token };
}

// Healthy again within ms of the resume, for /health and for an authenticated read.
async function recoversWithin(ms, token) {
  const t0 = Date.now();
  const ok = await until(async () => (await timed('/health')).status === 200 &&
    (await api('GET', '/users/me', null, token)).status === 200, ms);
  return { ok, ms: Date.now() - t0 };
}

function assertUnavailable(r, code) {
  assert.equal(r.status, 503, `expected 503, got ${r.status} ${r.error || ''} after ${r.ms} ms`);
  assert.equal(r.json.error.code, code);
  assert.equal(typeof r.json.error.message, 'string');
}

test('with PostgreSQL hung, /health and REST answer 503 quickly, and recover after it resumes', async (t) => {
  const a = await user();
  execSync(`${STACK} pg-pause`);
  let health, me, again;
  try {
    // First on a backend whose connection is up: the statement is sent and never answered.
    me = await api('GET', '/users/me', null, a.token);
    health = await timed('/health');
    // At once: backends beside the first, whose connections are up or not yet made.
    again = await Promise.all([1, 2, 3, 4].map(() => timed('/health')));
  } finally {
    execSync(`${STACK} pg-resume`);
  }
  const back = await recoversWithin(2000, a.token);
  t.diagnostic(`health ${health.ms} ms, /users/me ${me.ms} ms, health x4 at once ${again.map(h => h.ms)} ms, recovered in ${back.ms} ms`);
  assert.equal(health.status, 503, `health: ${health.status} ${health.error || ''}`);
  assert.deepEqual(health.json, { status: 'unavailable', database: 'unavailable', redis: 'ok' });
  assert.ok(health.ms < 1500, `health took ${health.ms} ms`);
  assertUnavailable(me, 'database_unavailable');
  assert.ok(me.ms < 2500, `GET /users/me took ${me.ms} ms`);
  for (const h of again) {
    assert.equal(h.status, 503, `health: ${h.status} ${h.error || ''}`);
    assert.equal(h.json.database, 'unavailable');
    assert.ok(h.ms < 1500, `health took ${h.ms} ms`);
  }
  assert.ok(back.ok, `not healthy ${back.ms} ms after PostgreSQL resumed`);
});

test('with Redis hung, sends still succeed, /health names redis quickly, and it recovers', async (t) => {
  const a = await user(); const b = await user();
  const conv = (await api('POST', '/conversations/direct', { other_user_id: b.id }, a.token)).json;
  execSync(`${STACK} redis-pause`);
  let health, sent;
  try {
    // First on a backend whose Redis connection is up: the command is sent and never answered.
    sent = await api('POST', `/conversations/${conv.id}/messages`, { content: 'while redis hangs' }, a.token);
    health = await timed('/health');
  } finally {
    execSync(`${STACK} redis-resume`);
  }
  const back = await recoversWithin(2000, a.token);
  t.diagnostic(`health ${health.ms} ms, send ${sent.ms} ms, recovered in ${back.ms} ms`);
  assert.equal(health.status, 503, `health: ${health.status} ${health.error || ''}`);
  assert.deepEqual(health.json, { status: 'unavailable', database: 'ok', redis: 'unavailable' });
  assert.ok(health.ms < 1500, `health took ${health.ms} ms`);
  assert.equal(sent.status, 201, `send: ${sent.status} ${sent.error || ''} after ${sent.ms} ms`);
  assert.ok(sent.ms < HANG_MS);
  assert.ok(back.ok, `not healthy ${back.ms} ms after Redis resumed`);
  const page = await api('GET', `/conversations/${conv.id}/messages`, null, a.token);
  assert.deepEqual(page.json.messages.map(m => m.content), ['while redis hangs']);
});

test('with PostgreSQL hung, requests beyond the backends wait DB_POOL_WAIT_MS for one, then get 503', async (t) => {
  // 40 at once, over the stack's 15 backends (DB_POOL_SIZE 5 + DB_MAX_OVERFLOW 10).
  const a = await user();
  execSync(`${STACK} pg-pause`);
  let all;
  try {
    all = await Promise.all(Array.from({ length: 40 }, () => api('GET', '/users/me', null, a.token)));
  } finally {
    execSync(`${STACK} pg-resume`);
  }
  const codes = {};
  for (const r of all) codes[r.json?.error?.code] = (codes[r.json?.error?.code] || 0) + 1;
  t.diagnostic(`slowest ${Math.max(...all.map(r => r.ms))} ms; codes ${JSON.stringify(codes)}`);
  for (const r of all) {
    assert.equal(r.status, 503, `${r.status} ${r.error || ''} after ${r.ms} ms`);
    assert.ok(['unavailable', 'database_unavailable'].includes(r.json.error.code));
    assert.ok(r.ms < 3000, `a request took ${r.ms} ms`);
  }
  assert.ok(codes.unavailable >= 1, 'no request was refused for want of a backend');
  assert.ok((await recoversWithin(2000, a.token)).ok);
});
