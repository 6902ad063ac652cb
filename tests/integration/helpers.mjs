// What the WebSocket and browser tests share: the REST client, a fresh user,
// a direct conversation, a REST send, a pause, psql on the test database and
// a Redis outage.
import assert from 'node:assert/strict';
import { execSync, execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';

export const BASE = process.env.CHAT_BASE_URL || 'http://127.0.0.1:18000';

export async function api(method, path, body, token) {
  const headers = { 'content-type': 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  const r = await fetch(`${BASE}/api/v1${path}`, { method, headers, body: body ? JSON.stringify(body) : undefined });
  const text = await r.text();
  return { status: r.status, json: text ? JSON.parse(text) : null };
}

// A fresh account (password "password123"): its id, name and both tokens.
export async function user() {
  const name = `g${randomUUID().replace(/-/g, '').slice(0, 12)}`;
  const r = await api('POST', '/auth/register', { username: name, email: `${name}@example.com`, password: 'password123' });
  assert.equal(r.status, 201);
  return { id: r.json.user.id, name, token: r.json.access_token, refresh: r.json.refresh_token };
}

export async function direct(a, b) {
  return (await api('POST', '/conversations/direct', { other_user_id: b.id }, a.token)).json.id;
}

export const send = (cid, u, content) => api('POST', `/conversations/${cid}/messages`, { content }, u.token);

export const sleep = ms => new Promise(r => setTimeout(r, ms));

// fn() every 100 ms until it is truthy or ms have passed; its last value.
export async function until(fn, ms = 5000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v || Date.now() > end) return v;
    await sleep(100);
  }
}

// One SQL statement on the test stack's database; its unaligned output.
export const psql = sql => execFileSync('psql', [process.env.DATABASE_URL, '-XAtq', '-v', 'ON_ERROR_STOP=1', '-c', sql],
  { encoding: 'utf8' }).trim();

// Run fn with the test stack's Redis stopped; Redis is started again whatever happens.
export async function withoutRedis(fn) {
  execSync(`${process.env.CHAT_STACK} redis-stop`);
  try {
    return await fn();
  } finally {
    execSync(`${process.env.CHAT_STACK} redis-start`);
  }
}
