// GET /metrics on chat-api (through nginx) and on each gateway's own port:
// the Prometheus text format as promtool checks it, counters that move with
// the traffic, and nothing for clients outside METRICS_ALLOW.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { client, convUrl } from './wsclient.mjs';
import { api, user, direct, send, until } from './helpers.mjs';

const BASE = process.env.CHAT_BASE_URL || 'http://127.0.0.1:18000';
const STRICT = process.env.CHAT_STRICT_BASE_URL || 'http://127.0.0.1:18001/api/v1';
const STRICT_WS = process.env.CHAT_STRICT_WS_URL || 'ws://127.0.0.1:18093';
const [GW1] = (process.env.CHAT_GATEWAY_PORTS || '18091,18092').split(',');

async function scrape(url) {
  const r = await fetch(url);
  const text = await r.text();
  return { status: r.status, type: r.headers.get('content-type'), text };
}

// The value of one series (exact name and labels), 0 when absent.
function value(text, series) {
  const line = text.split('\n').find(l => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : 0;
}

function promtool(text) {
  execFileSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
}

test('chat-api /metrics: valid exposition format, request counters and latency move', async () => {
  const a = await user();
  const series = 'chat_api_requests_total{route="/users/me",method="GET",status="200"}';
  const before = await scrape(`${BASE}/metrics`);
  assert.equal(before.status, 200);
  assert.match(before.type, /^text\/plain; version=0\.0\.4/);
  promtool(before.text);
  for (let i = 0; i < 3; i++) assert.equal((await api('GET', '/users/me', null, a.token)).status, 200);
  assert.equal((await api('GET', '/users/me', null, 'garbage')).status, 401);
  const after = (await scrape(`${BASE}/metrics`)).text;
  promtool(after);
  assert.equal(value(after, series) - value(before.text, series), 3);
  assert.ok(value(after, 'chat_api_requests_total{route="/users/me",method="GET",status="401"}') >= 1);
  assert.ok(value(after, 'chat_api_request_duration_seconds_count{route="/users/me"}') >=
    value(before.text, 'chat_api_request_duration_seconds_count{route="/users/me"}') + 4);
  assert.match(after, /^chat_api_build_info\{version="[^"]+"\} 1$/m);
  assert.match(after, /^chat_api_backends\{state="in_use"\} \d+$/m);
  assert.match(after, /^chat_postgres_connects_total\{result="ok"\} \d+$/m);
  // no user or conversation id is ever a label
  assert.ok(!after.includes(a.id));
});

test('gateway /metrics: valid format; sockets, deliveries, catch-ups and stream events move', async () => {
  const url = `http://127.0.0.1:${GW1}/metrics`;
  const before = (await scrape(url)).text;
  promtool(before);
  const a = await user(); const b = await user();
  const cid = await direct(a, b);
  await send(cid, a, 'waiting for b');
  const cb = client(convUrl(`ws://127.0.0.1:${GW1}`, cid, b.token));
  await cb.opened;
  await cb.next(e => e.type === 'offline_message');
  await send(cid, a, 'live');
  await cb.next(e => e.type === 'message' && e.content === 'live');
  const during = (await scrape(url)).text;
  promtool(during);
  assert.ok(value(during, 'chat_gateway_connections{state="authenticated"}') >= 1);
  assert.ok(value(during, 'chat_gateway_subscriptions') >= 1);
  assert.ok(value(during, 'chat_gateway_deliveries_total') >= value(before, 'chat_gateway_deliveries_total') + 2);
  assert.ok(value(during, 'chat_gateway_catchups_total{kind="offline"}') >= value(before, 'chat_gateway_catchups_total{kind="offline"}') + 1);
  assert.ok(value(during, 'chat_gateway_stream_events_total') > value(before, 'chat_gateway_stream_events_total'));
  assert.match(during, /^chat_gateway_stream_lag_seconds [0-9.e-]+$/m);
  await cb.close();
  // the socket's close is counted once it is gone
  assert.ok(await until(async () => value((await scrape(url)).text, 'chat_gateway_connections{state="authenticated"}') <
    value(during, 'chat_gateway_connections{state="authenticated"}')));
});

test('/metrics is not there for clients outside METRICS_ALLOW', async () => {
  // the strict instances allow 10.0.0.0/8 only; every test client is on loopback
  const strictApi = await scrape(`${STRICT.replace(/\/api\/v1$/, '')}/metrics`);
  assert.equal(strictApi.status, 404);
  assert.equal(JSON.parse(strictApi.text).error.code, 'not_found');
  const strictGw = await scrape(`${STRICT_WS.replace('ws://', 'http://')}/metrics`);
  assert.equal(strictGw.status, 404);
  assert.ok(!strictGw.text.includes('chat_'));
});
