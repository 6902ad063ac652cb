// The same stack behind Apache (conf/apache.conf.in, CHAT_APACHE_URL; scripts/stack.sh runs
// it beside nginx on the test profile): a chosen set of this suite's files run again with
// CHAT_BASE_URL and CHAT_WS_URL pointing at Apache, then what only Apache's configuration
// does: its own errors in the API's JSON shape (and the gateways' HTML refusals turned into
// it), the browser's token in Sec-WebSocket-Protocol handed on as a bearer header, chat-api
// or every gateway down, and no token in Apache's access or error log.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import http from 'node:http';
import { api, user, direct, send, sleep } from './helpers.mjs';
import { client, convUrl, isMsg } from './wsclient.mjs';

const APACHE = process.env.CHAT_APACHE_URL;
const APACHE_WS = APACHE && APACHE.replace(/^http/, 'ws');
const STACK = process.env.CHAT_STACK;
const LOG = `${process.env.CHAT_VAR_DIR}/log`;
const skip = APACHE ? false : 'CHAT_APACHE_URL is not set (this stack profile has no Apache tier)';

// The files run through Apache, and the tests left out of each (a name pattern), with why.
// Left out entirely: webtier (nginx's own 400 for %00 and its 502; Apache's are below),
// sessions (reads nginx-access.log), delivery, health, timeouts (they stop Redis or
// PostgreSQL: the web tier has no part in what they check), rate_limit and access (the
// strict instance has no Apache in front).
const SUITES = [
  { file: 'rest_api.test.mjs' },
  { file: 'security.test.mjs' },
  {
    file: 'gateway.test.mjs',
    // nginx's logs (checked below for Apache's), and tests that go to the strict gateway
    // directly (CHAT_STRICT_WS_URL), not through the web tier, or restart Redis
    skip: ['the token can travel in Sec-WebSocket-Protocol', 'a foreign protocol list longer',
      'a socket that never authorises', 'a flood of messages', 'a client that stops reading',
      'a silent client is pinged', 'after a Redis restart'],
  },
];

const escape = s => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

// The file's top-level tests but those whose names start with one of left, as a name pattern
// (Node 20's --test-name-pattern has no negation: a lookahead also matches the file's root).
function including(file, left) {
  const src = readFileSync(`${import.meta.dirname}/${file}`, 'utf8');
  const names = [...src.matchAll(/^test\('((?:[^'\\]|\\.)*)'/gm)].map(m => m[1].replace(/\\(.)/g, '$1'));
  const kept = names.filter(n => !left.some(l => n.startsWith(l)));
  assert.equal(names.length - kept.length, left.length, `${file}: each name to leave out names one test`);
  return `^(${kept.map(escape).join('|')})$`;
}

function runSuite({ file, skip: left = [] }) {
  const args = ['--test', '--test-reporter=tap'];
  if (left.length) args.push(`--test-name-pattern=${including(file, left)}`);
  args.push(file);
  const env = { ...process.env, CHAT_BASE_URL: APACHE, CHAT_WS_URL: APACHE_WS };
  delete env.NODE_TEST_CONTEXT; // else the child takes itself for a nested run and runs nothing
  return new Promise(resolve => {
    const p = spawn(process.execPath, args, { env, cwd: import.meta.dirname, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', d => { out += d; });
    p.stderr.on('data', d => { out += d; });
    const timer = setTimeout(() => p.kill('SIGKILL'), 150_000);
    p.on('close', code => { clearTimeout(timer); resolve({ code, out }); });
  });
}

for (const s of SUITES) {
  test(`${s.file} through Apache`, { skip, timeout: 160_000 }, async () => {
    const { code, out } = await runSuite(s);
    const failed = out.split('\n').filter(l => /^\s*not ok/.test(l)).join('\n');
    assert.equal(code, 0, `${s.file} through Apache failed:\n${failed}\n${out.slice(-3000)}`);
    assert.match(out, /^# pass [1-9]/m);
  });
}

async function raw(method, path, body, headers = {}) {
  const r = await fetch(`${APACHE}${path}`, { method, body, headers: body ? { 'content-type': 'application/json', ...headers } : headers });
  return { status: r.status, type: r.headers.get('content-type') || '', text: await r.text() };
}

// A method fetch will not send (TRACE).
function request(method, path) {
  return new Promise((resolve, reject) => {
    const req = http.request(`${APACHE}${path}`, { method }, res => {
      let text = '';
      res.on('data', d => { text += d; });
      res.on('end', () => resolve({ status: res.statusCode, type: res.headers['content-type'] || '', text }));
    });
    req.on('error', reject);
    req.end();
  });
}

// A WebSocket handshake that is refused: its status, type and body (ws keeps the body from us).
function handshake(path, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = http.get(`${APACHE}${path}`, {
      headers: { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', ...headers },
    }, res => {
      let text = '';
      res.on('data', d => { text += d; });
      res.on('end', () => resolve({ status: res.statusCode, type: res.headers['content-type'] || '', text }));
    });
    req.on('upgrade', res => { res.socket?.destroy(); resolve({ status: 101, type: '', text: '' }); });
    req.on('error', reject);
  });
}

function assertJsonError(r, status, code) {
  assert.equal(r.status, status, r.text.slice(0, 300));
  assert.match(r.type, /^application\/json/);
  assert.ok(!/<html/i.test(r.text), r.text.slice(0, 300));
  const j = JSON.parse(r.text);
  assert.equal(typeof j.error.code, 'string');
  assert.equal(typeof j.error.message, 'string');
  if (code) assert.equal(j.error.code, code);
}

const size = f => statSync(f).size;
const since = (f, at) => readFileSync(f, 'utf8').slice(at);

test('Apache\'s own 400, 404, 405 and 414, and a body over LimitRequestBody, are JSON errors', { skip }, async () => {
  assertJsonError(await raw('GET', '/api/v1/users/%zz?token=secret-in-a-bad-uri'), 400, 'bad_request');
  assertJsonError(await raw('GET', '/api/v1/users/%00'), 404, 'not_found');
  assertJsonError(await request('TRACE', '/api/v1/health'), 405);
  // over LimitRequestBody (chat-api, seeing CONTENT_LENGTH, refuses it first: the same shape)
  assertJsonError(await raw('POST', '/api/v1/auth/login', 'x'.repeat(2 * 1024 * 1024)), 413, 'payload_too_large');
  assertJsonError(await raw('GET', `/api/v1/users/${'a'.repeat(20000)}`), 414, 'uri_too_long');
  // the error bodies are not served as resources
  assertJsonError(await raw('GET', '/.chat-error/500.json'), 404, 'not_found');
  // chat-api's own errors pass through untouched
  const r = await raw('GET', '/api/v1/no/such/route');
  assertJsonError(r, 404, 'not_found');
  assert.match(JSON.parse(r.text).error.message, /no route/);
});

test('chat-api down: 503 as a JSON error, then service again at once', { skip }, async () => {
  execSync(`${STACK} api-kill`);
  try {
    assertJsonError(await raw('GET', '/api/v1/health?token=secret-while-api-down'), 503, 'unavailable');
  } finally {
    execSync(`${STACK} api-start`);
  }
  assert.equal((await raw('GET', '/api/v1/health')).status, 200);
});

test('the gateways\' handshake refusals and every gateway down are JSON errors', { skip }, async () => {
  const a = await user(); const b = await user();
  const cid = await direct(a, b);
  assertJsonError(await handshake(`/api/v1/ws/conversations/${cid}`, { 'sec-websocket-protocol': 'chat, not.a.token' }), 401, 'unauthorized');
  assertJsonError(await handshake(`/api/v1/ws/conversations/${cid}?token=${a.token}`, { origin: 'http://evil.example' }), 403, 'forbidden');
  assertJsonError(await handshake(`/api/v1/ws/nothing?token=${a.token}`), 404, 'not_found');
  const gws = (process.env.CHAT_GATEWAY_PORTS || '').split(',').filter(Boolean).map((_, i) => i + 1);
  for (const n of gws) execSync(`${STACK} gateway-stop ${n}`);
  try {
    assertJsonError(await handshake(`/api/v1/ws/conversations/${cid}?token=${a.token}`), 503, 'unavailable');
  } finally {
    for (const n of gws) execSync(`${STACK} gateway-start ${n}`);
  }
  // retry=1 on each member: the restarted gateways take handshakes again within a second or two
  await sleep(1500);
  const c = client(convUrl(APACHE_WS, cid, b.token));
  await c.opened;
  await c.close();
});

test('the token in Sec-WebSocket-Protocol reaches the gateway as a bearer header; no token in Apache\'s logs', { skip }, async () => {
  const access = `${LOG}/apache-access.log`; const errors = `${LOG}/apache-error.log`;
  const a = await user(); const b = await user();
  const cid = await direct(a, b);
  const viaProto = client(`${APACHE_WS}/api/v1/ws/conversations/${cid}`, ['chat', b.token]);
  const viaUrl = client(convUrl(APACHE_WS, cid, a.token));
  await Promise.all([viaProto.opened, viaUrl.opened]);
  assert.equal(viaProto.ws.protocol, 'chat');
  await sleep(200);
  await send(cid, a, 'token in the protocol list, through Apache');
  await viaProto.next(isMsg('token in the protocol list, through Apache'));
  await viaUrl.next(isMsg('token in the protocol list, through Apache'));
  await Promise.all([viaProto.close(), viaUrl.close()]);
  // a bad token in the protocol list is refused like one in the URL
  const bad = client(`${APACHE_WS}/api/v1/ws/conversations/${cid}`, ['chat', 'not.a.token']);
  await assert.rejects(bad.opened, e => e.status === 401);
  // a foreign list too long for libwebsockets is not passed on, and no gateway is marked down
  const at = size(errors);
  for (let i = 0; i < 3; i++) {
    const odd = client(convUrl(APACHE_WS, cid, a.token), ['x'.repeat(200)]);
    await assert.rejects(odd.opened, e => !e.status && /subprotocol/.test(e.message));
  }
  const ok = client(convUrl(APACHE_WS, cid, a.token));
  await ok.opened;
  await ok.close();
  assert.ok(!/AH00959|AH01167|in error state/.test(since(errors, at)), 'Apache marked a gateway down');
  await sleep(300);
  const log = readFileSync(access, 'utf8');
  assert.ok(log.includes(`/api/v1/ws/conversations/${cid} `), 'the socket is in the access log');
  for (const [name, text] of [['access', log], ['error', readFileSync(errors, 'utf8')]]) {
    assert.ok(!text.includes(a.token) && !text.includes(b.token), `a token is in Apache's ${name} log`);
    assert.ok(!/token=/.test(text), `a ?token= query is in Apache's ${name} log`);
    assert.ok(!text.includes('secret-'), `a query is in Apache's ${name} log`);
  }
});
