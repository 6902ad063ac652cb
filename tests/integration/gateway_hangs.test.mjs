// A hung PostgreSQL or Redis (SIGSTOP through $CHAT_STACK pg-pause / redis-pause) never freezes a
// gateway: its sockets keep answering, its /health answers at once and soon names the part, a send
// is answered (an error to retry, or an ack), and all is well again soon after the resume. The test
// stack runs with DB_STATEMENT_TIMEOUT_MS=1000, so the gateway gives up a statement after ~2 s.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execSync } from 'node:child_process';
import { user, direct, sleep, until } from './helpers.mjs';
import { client, convUrl, isMsg } from './wsclient.mjs';

const STACK = process.env.CHAT_STACK;
const [PORT1] = (process.env.CHAT_GATEWAY_PORTS || '18091,18092').split(',');
const GW1 = `ws://127.0.0.1:${PORT1}`;

async function health() {
  const t0 = Date.now();
  const r = await fetch(`http://127.0.0.1:${PORT1}/health`, { signal: AbortSignal.timeout(3000) });
  return { status: r.status, json: await r.json(), ms: Date.now() - t0 };
}

async function pair() {
  const a = await user(); const b = await user();
  const cid = await direct(a, b);
  const ca = client(convUrl(GW1, cid, a.token));
  const cb = client(convUrl(GW1, cid, b.token));
  await Promise.all([ca.opened, cb.opened]);
  await sleep(300);
  return { ca, cb };
}

async function pong(c) {
  const t0 = Date.now();
  const seen = c.events.length;
  c.send({ type: 'ping' });
  await c.next(e => e.type === 'pong' && c.events.indexOf(e) >= seen, 1000);
  return Date.now() - t0;
}

test('with PostgreSQL hung the gateway keeps answering, names the database, and recovers', async () => {
  const { ca, cb } = await pair();
  execSync(`${STACK} pg-pause`);
  try {
    ca.send({ type: 'message', content: 'while postgres is hung', client_message_id: 'hung-1' });
    assert.ok(await pong(ca) < 500, 'the loop is not blocked');
    const h = await health();
    assert.ok(h.ms < 1000, `health took ${h.ms} ms`);
    const err = await ca.next(e => e.type === 'error', 6000);
    assert.equal(err.code, 'database_unavailable');
    assert.ok(await until(async () => (await health()).json.database === 'unavailable', 6000),
      'health names the database');
    assert.ok(await pong(cb) < 500);
  } finally {
    execSync(`${STACK} pg-resume`);
  }
  assert.ok(await until(async () => (await health()).status === 200, 4000), 'healthy again');
  ca.send({ type: 'message', content: 'after the resume', client_message_id: 'hung-2' });
  await ca.next(e => e.type === 'ack' && e.client_message_id === 'hung-2', 5000);
  await cb.next(isMsg('after the resume'));
  await Promise.all([ca.close(), cb.close()]);
});

test('with Redis hung a send is acknowledged and delivered, health names redis, and it recovers', async () => {
  const { ca, cb } = await pair();
  execSync(`${STACK} redis-pause`);
  try {
    assert.ok(await pong(ca) < 500, 'the loop is not blocked');
    ca.send({ type: 'message', content: 'while redis is hung', client_message_id: 'rh-1' });
    await ca.next(e => e.type === 'ack' && e.client_message_id === 'rh-1', 8000);
    await cb.next(isMsg('while redis is hung'), 8000); // from PostgreSQL: the publish is lost
    assert.ok(await until(async () => (await health()).json.redis === 'unavailable', 8000),
      'health names redis');
  } finally {
    execSync(`${STACK} redis-resume`);
  }
  assert.ok(await until(async () => (await health()).status === 200, 5000), 'healthy again');
  ca.send({ type: 'message', content: 'live again', client_message_id: 'rh-2' });
  await cb.next(isMsg('live again'), 5000);
  assert.equal(cb.events.filter(isMsg('while redis is hung')).length, 1);
  await Promise.all([ca.close(), cb.close()]);
});
