// /health through nginx, and what it says when Redis goes away and comes back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execSync } from 'node:child_process';
import { until } from './helpers.mjs';

const BASE = process.env.CHAT_BASE_URL || 'http://127.0.0.1:18000';
const STACK = process.env.CHAT_STACK;
const GW_PORTS = (process.env.CHAT_GATEWAY_PORTS || '').split(',').filter(Boolean);

async function health(path = '/health') {
  const r = await fetch(BASE + path);
  return { status: r.status, type: r.headers.get('content-type'), json: await r.json() };
}

test('health is 200 with every part ok, at / and under the API prefix', async () => {
  for (const p of ['/health', '/api/v1/health']) {
    const h = await health(p);
    assert.equal(h.status, 200);
    assert.match(h.type, /^application\/json/);
    assert.deepEqual(h.json, { status: 'ok', database: 'ok', redis: 'ok' });
  }
});

test('health is 503 naming redis while Redis is down, and recovers', async () => {
  execSync(`${STACK} redis-stop`);
  try {
    const down = await until(async () => { const h = await health(); return h.status === 503 ? h : null; });
    assert.ok(down, 'health never reported 503');
    assert.equal(down.json.redis, 'unavailable');
    assert.equal(down.json.database, 'ok');
  } finally {
    execSync(`${STACK} redis-start`);
  }
  const up = await until(async () => (await health()).status === 200);
  assert.ok(up, 'health did not recover after Redis came back');
});

test('health is 503 naming the database while PostgreSQL is down, and recovers', async () => {
  execSync(`${STACK} pg-stop`);
  try {
    const down = await until(async () => { const h = await health(); return h.status === 503 ? h : null; });
    assert.ok(down);
    assert.equal(down.json.database, 'unavailable');
    assert.equal(down.json.redis, 'ok');
  } finally {
    execSync(`${STACK} pg-start`);
  }
  assert.ok(await until(async () => (await health()).status === 200, 10000));
});

test('unknown routes get a JSON 404', async () => {
  const r = await fetch(`${BASE}/api/v1/nope`);
  assert.equal(r.status, 404);
  const j = await r.json();
  assert.equal(j.error.code, 'not_found');
  assert.equal(typeof j.error.message, 'string');
});

test('every gateway answers its own health check', async () => {
  assert.ok(GW_PORTS.length >= 1);
  for (const p of GW_PORTS) {
    // A gateway re-establishes its links within seconds of an outage (see above).
    const ok = await until(async () => (await fetch(`http://127.0.0.1:${p}/health`)).status === 200);
    assert.ok(ok, `gateway on ${p} is not healthy`);
    const body = await (await fetch(`http://127.0.0.1:${p}/health`)).json();
    assert.equal(body.status, 'ok');
    assert.equal(body.database, 'ok');
    assert.equal(body.redis, 'ok');
  }
});

async function api(method, path, body, token) {
  const headers = { 'content-type': 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  const r = await fetch(`${BASE}/api/v1${path}`, { method, headers, body: body ? JSON.stringify(body) : undefined });
  const text = await r.text();
  return { status: r.status, json: text ? JSON.parse(text) : null, headers: r.headers };
}

async function user() {
  const name = `h${Math.random().toString(36).slice(2, 12)}`;
  const r = await api('POST', '/auth/register', { username: name, email: `${name}@example.com`, password: 'password123' });
  assert.equal(r.status, 201);
  return { id: r.json.user.id, token: r.json.access_token };
}

test('sends succeed while Redis is down, and the stale cache is never served afterwards', async () => {
  const a = await user(); const b = await user();
  const conv = (await api('POST', '/conversations/direct', { other_user_id: b.id }, a.token)).json;
  assert.equal((await api('POST', `/conversations/${conv.id}/messages`, { content: 'before' }, a.token)).status, 201);
  // Warm the cache.
  await api('GET', `/conversations/${conv.id}/messages?use_cache=true`, null, a.token);
  execSync(`${STACK} redis-stop`);
  try {
    const sent = await api('POST', `/conversations/${conv.id}/messages`, { content: 'during outage' }, a.token);
    assert.equal(sent.status, 201);
  } finally {
    execSync(`${STACK} redis-start`);
  }
  assert.ok(await until(async () => (await health()).status === 200));
  const db = await api('GET', `/conversations/${conv.id}/messages`, null, a.token);
  const cached = await api('GET', `/conversations/${conv.id}/messages?use_cache=true`, null, a.token);
  assert.deepEqual(db.json.messages.map(m => m.content), ['during outage', 'before']);
  assert.deepEqual(cached.json, db.json);
});

test('sends fail with 503 while PostgreSQL is down, and nothing is half-written', async () => {
  const a = await user(); const b = await user();
  const conv = (await api('POST', '/conversations/direct', { other_user_id: b.id }, a.token)).json;
  execSync(`${STACK} pg-stop`);
  let r;
  try {
    r = await api('POST', `/conversations/${conv.id}/messages`, { content: 'lost?' }, a.token);
  } finally {
    execSync(`${STACK} pg-start`);
  }
  assert.equal(r.status, 503);
  assert.equal(r.json.error.code, 'database_unavailable');
  assert.ok(await until(async () => (await health()).status === 200, 10000));
  const page = await api('GET', `/conversations/${conv.id}/messages`, null, a.token);
  assert.equal(page.status, 200);
  assert.equal(page.json.messages.length, 0);
  assert.equal((await api('POST', `/conversations/${conv.id}/messages`, { content: 'after' }, a.token)).json.seq, 1);
});

test('after Redis and PostgreSQL restart, no request fails on a connection the restart closed', async () => {
  const name = `h${Date.now().toString(36)}`;
  const reg = await fetch(`${BASE}/api/v1/auth/register`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: name, email: `${name}@example.com`, password: 'password123' }),
  });
  const token = (await reg.json()).access_token;
  // Reads PostgreSQL (the token's user) and Redis (the online set).
  const burst = async () => (await Promise.all(Array.from({ length: 128 }, () =>
    fetch(`${BASE}/api/v1/conversations/online`, { headers: { authorization: `Bearer ${token}` } })
      .then(async r => ({ status: r.status, body: await r.text() }))))).filter(r => r.status !== 200);
  assert.deepEqual(await burst(), [], 'every worker thread answers before the restarts');
  execSync(`${STACK} redis-stop`); execSync(`${STACK} redis-start`);
  execSync(`${STACK} pg-stop`); execSync(`${STACK} pg-start`);
  assert.ok(await until(async () => (await health()).status === 200, 10000));
  await new Promise(r => setTimeout(r, 1000));
  assert.deepEqual(await burst(), [], 'a worker thread failed on a connection the restart closed');
});

test('more requests at once than chat-api has backends are all answered: they wait for one', async () => {
  // The strict instance runs 64 connection threads over 2 backends (scripts/stack.sh);
  // /health uses a backend's PostgreSQL and Redis connections.
  const STRICT = process.env.CHAT_STRICT_BASE_URL || 'http://127.0.0.1:18001';
  const t0 = Date.now();
  const all = await Promise.all(Array.from({ length: 40 }, async () => {
    const r = await fetch(STRICT + '/health');
    return { status: r.status, json: await r.json() };
  }));
  for (const h of all) assert.deepEqual([h.status, h.json], [200, { status: 'ok', database: 'ok', redis: 'ok' }]);
  assert.ok(Date.now() - t0 < 5000, `40 requests took ${Date.now() - t0} ms`);
});

test('liveness and readiness: /healthz touches nothing, /readyz names what is down', async () => {
  const get = async url => { const t0 = Date.now(); const r = await fetch(url); return { status: r.status, json: await r.json(), ms: Date.now() - t0 }; };
  const gw = GW_PORTS.map(p => `http://127.0.0.1:${p}`);
  for (const base of [BASE, ...gw]) {
    assert.equal((await get(`${base}/healthz`)).json.status, 'alive');
    const ready = await get(`${base}/readyz`);
    assert.equal(ready.status, 200);
    assert.equal(ready.json.status, 'ready');
  }
  execSync(`${STACK} pg-pause`); // hung, not down: every probe must time out
  try {
    for (const base of [BASE, ...gw]) {
      const live = await get(`${base}/healthz`);
      assert.equal(live.status, 200, `${base}/healthz while PostgreSQL hangs`);
      assert.ok(live.ms < 500, `${base}/healthz took ${live.ms} ms`);
      const notReady = await until(async () => { const r = await get(`${base}/readyz`); return r.status === 503 && r; }, 8000);
      assert.ok(notReady, `${base}/readyz never said 503`);
      assert.equal(notReady.json.status, 'not_ready');
      assert.equal(notReady.json.database, 'unavailable');
    }
  } finally {
    execSync(`${STACK} pg-resume`);
  }
  for (const base of [BASE, ...gw])
    assert.ok(await until(async () => (await get(`${base}/readyz`)).status === 200, 10000), `${base} ready again`);
});
