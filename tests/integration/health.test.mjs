// /health through nginx, and what it says when Redis goes away and comes back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execSync } from 'node:child_process';

const BASE = process.env.CHAT_BASE_URL || 'http://127.0.0.1:18000';
const STACK = process.env.CHAT_STACK;
const GW_PORTS = (process.env.CHAT_GATEWAY_PORTS || '').split(',').filter(Boolean);

async function health(path = '/health') {
  const r = await fetch(BASE + path);
  return { status: r.status, type: r.headers.get('content-type'), json: await r.json() };
}

async function until(fn, ms = 5000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v || Date.now() > end) return v;
    await new Promise(r => setTimeout(r, 100));
  }
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
    const r = await fetch(`http://127.0.0.1:${p}/health`);
    assert.equal(r.status, 200);
    assert.equal((await r.json()).status, 'ok');
  }
});
