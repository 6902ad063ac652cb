// What a hostile client may cost and see: presence only of people one shares
// a conversation with; the gateway's admission caps (per client address, per
// user, sockets still waiting for their auth, handshakes per minute) and the
// rates of typing and read frames. The caps are tested on the strict gateway
// (CHAT_STRICT_WS_URL, see scripts/stack.sh: WS_MAX_SOCKETS_PER_USER=3,
// WS_MAX_SOCKETS_PER_ADDRESS=12, WS_MAX_UNAUTHENTICATED_PER_ADDRESS=2,
// WS_HANDSHAKES_PER_ADDRESS_PER_MINUTE=30, RATE_LIMIT_TYPING_PER_MINUTE=3,
// RATE_LIMIT_READ_PER_MINUTE=3), each test from loopback addresses of its own.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { client, convUrl, allUrl, closedWithin } from './wsclient.mjs';
import { execFileSync } from 'node:child_process';
import { api, user, direct, send, sleep, until } from './helpers.mjs';

const WS = process.env.CHAT_WS_URL || 'ws://127.0.0.1:18000';
const STRICT_WS = process.env.CHAT_STRICT_WS_URL || 'ws://127.0.0.1:18093';

function randomLoopback() {
  const b = () => 2 + Math.floor(Math.random() * 250);
  return `127.${b()}.${b()}.${b()}`;
}

// A socket to the strict gateway from a chosen source address.
const from = (ip, url, headers = {}) => client(url, { localAddress: ip, headers });
const anonUrl = cid => `${STRICT_WS}/api/v1/ws/conversations/${cid}`;
const refused = (c, status = 429) => assert.rejects(c.opened, e => e.status === status);

test('online users are only those who share a conversation with the caller', async () => {
  const a = await user(); const b = await user(); const stranger = await user();
  await direct(a, b);
  const cb = client(allUrl(WS, b.token));
  const cs = client(allUrl(WS, stranger.token));
  await Promise.all([cb.opened, cs.opened]);
  const online = async who => (await api('GET', '/conversations/online', null, who.token)).json.online_user_ids;
  assert.ok(await until(async () => (await online(a)).includes(b.id)), 'b is online for a');
  assert.ok((await online(stranger)).includes(stranger.id), 'the caller sees themself');
  assert.ok(!(await online(a)).includes(stranger.id), 'a stranger is not listed to a');
  assert.ok(!(await online(stranger)).includes(b.id), 'b is not listed to a stranger');
  await Promise.all([cb.close(), cs.close()]);
});

test('sockets still waiting for their auth are capped per address', async () => {
  const a = await user(); const b = await user();
  const cid = await direct(a, b);
  const ip = randomLoopback();
  const first = [from(ip, anonUrl(cid)), from(ip, anonUrl(cid))];
  await Promise.all(first.map(c => c.opened));
  await refused(from(ip, anonUrl(cid)));
  // another address is not affected
  const other = from(randomLoopback(), anonUrl(cid));
  await other.opened;
  // once one authorises, its place is free again
  first[0].send({ type: 'auth', token: a.token });
  await first[0].next(e => e.type === 'auth_ok' || e.type === 'presence', 3000).catch(() => {});
  await sleep(200);
  const again = from(ip, anonUrl(cid));
  await again.opened;
  await Promise.all([...first, other, again].map(c => c.close()));
});

test('sockets are capped per client address, and X-Real-IP is believed only from a trusted proxy', async () => {
  const users = [];
  for (let i = 0; i < 5; i++) users.push(await user());
  const cid = await direct(users[0], users[1]);
  const ip = randomLoopback();
  const open = [];
  for (let i = 0; i < 12; i++) open.push(from(ip, allUrl(STRICT_WS, users[Math.floor(i / 3)].token)));
  await Promise.all(open.map(c => c.opened));
  await refused(from(ip, allUrl(STRICT_WS, users[4].token)));
  await open.pop().close();
  await sleep(100);
  const next = from(ip, allUrl(STRICT_WS, users[4].token));
  await next.opened;
  await Promise.all([...open, next].map(c => c.close()));

  // 127.0.0.1 is TRUSTED_PROXIES (our nginx): its X-Real-IP is the client.
  const real = `10.${Math.floor(Math.random() * 250)}.1.${Math.floor(Math.random() * 250)}`;
  const proxied = [from('127.0.0.1', anonUrl(cid), { 'x-real-ip': real }), from('127.0.0.1', anonUrl(cid), { 'x-real-ip': real })];
  await Promise.all(proxied.map(c => c.opened));
  await refused(from('127.0.0.1', anonUrl(cid), { 'x-real-ip': real }));
  const otherClient = from('127.0.0.1', anonUrl(cid), { 'x-real-ip': `${real.slice(0, -1)}${(Number(real.slice(-1)) + 1) % 10}` });
  await otherClient.opened;
  // Anyone else's X-Real-IP is ignored: it counts against the peer's own address.
  const forger = from(randomLoopback(), anonUrl(cid), { 'x-real-ip': real });
  await forger.opened;
  await Promise.all([...proxied, otherClient, forger].map(c => c.close()));
});

test('sockets are capped per user: a handshake token gets 429, an auth frame a close with 4429', async () => {
  const a = await user(); const b = await user();
  const cid = await direct(a, b);
  const mine = [];
  for (let i = 0; i < 3; i++) mine.push(from(randomLoopback(), convUrl(STRICT_WS, cid, a.token)));
  await Promise.all(mine.map(c => c.opened));
  await sleep(200); // authorised
  await refused(from(randomLoopback(), convUrl(STRICT_WS, cid, a.token)));
  const byFrame = from(randomLoopback(), anonUrl(cid));
  await byFrame.opened;
  byFrame.send({ type: 'auth', token: a.token });
  assert.equal(await closedWithin(byFrame, 3000), 4429);
  // b is not affected, and a closed socket frees a place
  const theirs = from(randomLoopback(), convUrl(STRICT_WS, cid, b.token));
  await theirs.opened;
  await mine.pop().close();
  await sleep(100);
  const again = from(randomLoopback(), convUrl(STRICT_WS, cid, a.token));
  await again.opened;
  await Promise.all([...mine, theirs, again].map(c => c.close()));
});

test('handshakes are limited per address and minute', async () => {
  const a = await user(); const b = await user();
  const cid = await direct(a, b);
  const ip = randomLoopback();
  for (let i = 0; i < 30; i++) {
    const c = from(ip, anonUrl(cid));
    await c.opened;
    await c.close();
  }
  await refused(from(ip, anonUrl(cid)));
  const elsewhere = from(randomLoopback(), anonUrl(cid));
  await elsewhere.opened;
  await elsewhere.close();
});

test('a burst of typing frames reaches the other member as at most the limit, the sender gets one rate_limited', async () => {
  const a = await user(); const b = await user();
  const cid = await direct(a, b);
  const ca = from(randomLoopback(), convUrl(STRICT_WS, cid, a.token));
  const cb = from(randomLoopback(), convUrl(STRICT_WS, cid, b.token));
  await Promise.all([ca.opened, cb.opened]);
  await sleep(300);
  for (let i = 0; i < 50; i++) ca.send({ type: 'typing', is_typing: i % 2 === 0 });
  const err = await ca.next(e => e.type === 'error' && e.code === 'rate_limited');
  assert.match(err.message, /typing/);
  assert.ok(err.retry_after >= 1 && err.retry_after <= 60);
  await sleep(1000);
  const seen = cb.events.filter(e => e.type === 'typing_indicator' || e.type === 'typing').length;
  assert.ok(seen >= 1 && seen <= 3, `b got ${seen} typing events for 50 frames`);
  assert.equal(ca.events.filter(e => e.type === 'error' && e.code === 'rate_limited').length, 1,
    'one notice per window, not one per dropped frame');
  assert.equal(ca.ws.readyState, 1, 'the sender is not closed as a slow reader');

  // read frames the same way
  const m = (await send(cid, b, 'read me')).json;
  for (let i = 0; i < 6; i++) ca.send({ type: 'read', message_id: m.id });
  const rerr = await ca.next(e => e.type === 'error' && e.code === 'rate_limited' && /read/.test(e.message));
  assert.ok(rerr.retry_after >= 1);
  await Promise.all([ca.close(), cb.close()]);
});

test('an all-conversations connect reads history only where there is something to deliver', async () => {
  const a = await user();
  const convs = [];
  for (let i = 0; i < 12; i++) {
    const p = await user();
    const cid = await direct(a, p);
    await send(cid, p, `hello ${i}`);
    convs.push({ cid, p });
  }
  for (const { cid } of convs.slice(0, 11))
    assert.equal((await api('POST', `/conversations/${cid}/read`, {}, a.token)).status, 200);
  const offlineReads = () => Number(execFileSync('psql', [process.env.DATABASE_URL, '-XAtq', '-c',
    // the offline read of common/sync.c (sync_offline_sql), by its opening
    "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements WHERE query LIKE 'WITH start AS (%SELECT greatest($2::bigint, coalesce((SELECT seq FROM messages%'"],
  { encoding: 'utf8' }).trim());
  const before = offlineReads();
  const s = client(allUrl(WS, a.token));
  await s.opened;
  const got = await s.next(e => e.type === 'offline_message');
  assert.equal(got.content, 'hello 11');
  await sleep(300);
  assert.equal(offlineReads() - before, 1, 'one history read for the one conversation with unread messages');
  // and nothing was missed: a new message in a read conversation arrives live
  await send(convs[0].cid, convs[0].p, 'live');
  await s.next(e => e.type === 'message' && e.content === 'live');
  assert.equal(s.events.filter(e => e.type === 'offline_message').length, 1);
  await s.close();
});
