// What the web tier answers by itself is in the API's error shape too: nginx's
// own 400 (a URI it will not decode), 413 (a body over client_max_body_size),
// 414 (a request line over its buffers) and 502 (chat-api down) are JSON with
// application/json, never nginx's HTML pages.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execSync } from 'node:child_process';
import { BASE } from './helpers.mjs';

const STACK = process.env.CHAT_STACK;

async function raw(method, path, body) {
  const r = await fetch(`${BASE}${path}`, { method, body, headers: body ? { 'content-type': 'application/json' } : {} });
  return { status: r.status, type: r.headers.get('content-type') || '', text: await r.text() };
}

function assertJsonError(r, status) {
  assert.equal(r.status, status, r.text.slice(0, 200));
  assert.match(r.type, /^application\/json/);
  const j = JSON.parse(r.text);
  assert.equal(typeof j.error.code, 'string');
  assert.equal(typeof j.error.message, 'string');
  assert.ok(!/<html/i.test(r.text));
}

test('nginx\'s own 400, 413 and 414 are JSON errors', async () => {
  assertJsonError(await raw('GET', '/api/v1/users/%00'), 400);
  assertJsonError(await raw('POST', '/api/v1/auth/login', 'x'.repeat(2 * 1024 * 1024)), 413);
  assertJsonError(await raw('GET', `/api/v1/users/${'a'.repeat(20000)}`), 414);
});

test('chat-api down: 502 as a JSON error, then service again', async () => {
  execSync(`${STACK} api-kill`);
  try {
    const r = await raw('GET', '/api/v1/health');
    assertJsonError(r, 502);
    assert.equal(JSON.parse(r.text).error.code, 'unavailable');
  } finally {
    execSync(`${STACK} api-start`);
  }
  assert.equal((await raw('GET', '/api/v1/health')).status, 200);
});
