// Nothing acknowledged is lost: a committed message reaches the open sockets
// of its members even when its publication never happened (Redis down, its
// publisher killed after COMMIT), with no later message needed; membership
// changes take effect while Redis is down. Each of these failed before the
// gateways reconciled with PostgreSQL and listened for membership changes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { api, user, direct, send, sleep, psql, withoutRedis } from './helpers.mjs';
import { client, convUrl, allUrl, isMsg, closedWithin } from './wsclient.mjs';

const WS = process.env.CHAT_WS_URL || 'ws://127.0.0.1:18000';

test('a message sent over REST while Redis is down reaches the open socket, with no later message', async () => {
  const a = await user(); const b = await user();
  const cid = await direct(a, b);
  const cb = client(convUrl(WS, cid, b.token));
  await cb.opened;
  await sleep(200);
  await withoutRedis(async () => {
    const r = await send(cid, a, 'sent while redis is down');
    assert.equal(r.status, 201); // PostgreSQL is the record
  });
  const m = await cb.next(isMsg('sent while redis is down'), 6000);
  assert.equal(m.seq, 1);
  await sleep(1500); // a second round must not deliver it again
  assert.equal(cb.events.filter(isMsg('sent while redis is down')).length, 1);
  await cb.close();
});

test('a message whose publisher died after COMMIT still reaches every open socket once', async () => {
  const a = await user(); const b = await user();
  const cid = await direct(a, b);
  const cb = client(convUrl(WS, cid, b.token));
  const all = client(allUrl(WS, b.token));
  await Promise.all([cb.opened, all.opened]);
  await sleep(300);
  // What chat-api commits for a send, without the publication that would follow it.
  psql(`WITH bump AS (UPDATE conversations SET last_seq = last_seq + 1, message_count = message_count + 1,
                                last_message_seq = last_seq + 1 WHERE id = '${cid}' RETURNING last_seq, message_count)
        INSERT INTO messages (id, conversation_id, seq, n, sender_id, content)
        SELECT '${randomUUID()}', '${cid}', last_seq, message_count, '${a.id}', 'committed, never published' FROM bump`);
  await cb.next(isMsg('committed, never published'), 6000);
  await all.next(isMsg('committed, never published'), 6000);
  // The stream still works after it, in order.
  await send(cid, a, 'next');
  const next = await cb.next(isMsg('next'));
  assert.equal(next.seq, 2);
  assert.deepEqual(cb.events.filter(e => e.type === 'message').map(e => e.seq), [1, 2]);
  await Promise.all([cb.close(), all.close()]);
});

test('removing a member while Redis is down closes their room socket and stops their other one', async () => {
  const a = await user(); const b = await user();
  const room = (await api('POST', '/chat/rooms', { name: 'durable removal', member_ids: [b.id] }, a.token)).json;
  const onRoom = client(convUrl(WS, room.id, b.token));
  const all = client(allUrl(WS, b.token));
  await Promise.all([onRoom.opened, all.opened]);
  await sleep(300);
  await withoutRedis(async () => {
    const r = await api('DELETE', `/chat/rooms/${room.id}/members/${b.id}`, null, a.token);
    assert.equal(r.status, 204);
    const code = await closedWithin(onRoom, 4000);
    assert.equal(code, 4403);
  });
  await sleep(500);
  await api('POST', '/chat/messages', { room_id: room.id, content: 'after the removal' }, a.token);
  await sleep(2500); // two reconcile rounds
  assert.equal(all.events.filter(isMsg('after the removal')).length, 0);
  await all.close();
});

test('a member added while Redis is down starts receiving on their all-conversations socket', async () => {
  const a = await user(); const b = await user();
  const room = (await api('POST', '/chat/rooms', { name: 'durable add', member_ids: [] }, a.token)).json;
  const all = client(allUrl(WS, b.token));
  await all.opened;
  await sleep(300);
  await withoutRedis(async () => {
    const r = await api('POST', `/chat/rooms/${room.id}/members/${b.id}`, {}, a.token);
    assert.equal(r.status, 201);
    await sleep(500);
    await api('POST', '/chat/messages', { room_id: room.id, content: 'welcome while redis is down' }, a.token);
    const m = await all.next(isMsg('welcome while redis is down'), 6000);
    assert.equal(m.conversation_id, room.id);
  });
  await all.close();
});

// Ids in any letter case name one thing: iOS spells UUIDs in upper case. Before ids were
// canonical, a socket opened on the upper-case spelling outlived its user's removal, and a REST
// send to it reached nobody live (the event and cache keys carried the upper-case id).
test('upper-case conversation ids: a socket on one is closed on removal, a send to one is live', async () => {
  const a = await user(); const b = await user();
  const room = (await api('POST', '/chat/rooms', { name: 'case', member_ids: [b.id] }, a.token)).json;
  const upper = room.id.toUpperCase();
  const onRoom = client(convUrl(WS, upper, b.token));
  await onRoom.opened;
  await sleep(300);
  const r = await api('POST', `/conversations/${upper}/messages`, { content: 'to the upper-case path' }, a.token);
  assert.equal(r.status, 201);
  assert.equal(r.json.conversation_id, room.id);
  const m = await onRoom.next(isMsg('to the upper-case path'), 3000);
  assert.equal(m.conversation_id, room.id);
  // the cache answers the upper-case spelling with the same page
  const page = await api('GET', `/conversations/${upper}/messages?use_cache=true`, null, b.token);
  assert.equal(page.status, 200);
  assert.deepEqual(page.json.messages.map(x => x.content), ['to the upper-case path']);
  const del = await api('DELETE', `/chat/rooms/${upper}/members/${b.id.toUpperCase()}`, null, a.token);
  assert.equal(del.status, 204);
  const code = await closedWithin(onRoom, 4000);
  assert.equal(code, 4403);
});

test('upper-case ids on REST routes and WebSocket frames name the same resources', async () => {
  const a = await user(); const b = await user();
  const cid = await direct(a, b);
  const up = cid.toUpperCase();
  assert.equal((await api('GET', `/conversations/${up}`, null, a.token)).json.id, cid);
  const sent = await send(up, a, 'hello');
  const mid = sent.json.id;
  const again = await api('GET', `/conversations/direct?other_user_id=${b.id.toUpperCase()}`, null, a.token);
  assert.equal(again.json.id, cid);
  const read = await api('POST', `/conversations/${up}/read`, { message_id: mid.toUpperCase() }, b.token);
  assert.equal(read.status, 200);
  const receipt = await api('POST', `/conversations/messages/${mid.toUpperCase()}/read`, null, b.token);
  assert.ok([200, 201].includes(receipt.status), JSON.stringify(receipt.json));
  await send(cid, a, 'second');
  const page = await api('GET', `/conversations/${up}/messages?limit=1&cursor=`, null, a.token);
  const older = await api('GET', `/conversations/${up}/messages?cursor=${page.json.next_cursor.toUpperCase()}`, null, a.token);
  assert.deepEqual(older.json.messages.map(x => x.id), [mid]);
  // an all-conversations socket names the conversation in upper case in its frames
  const all = client(allUrl(WS, a.token));
  await all.opened;
  await sleep(300);
  all.send({ type: 'message', conversation_id: up, content: 'framed upper', client_message_id: 'up-1' });
  const ack = await all.next(e => e.type === 'ack' && e.client_message_id === 'up-1');
  assert.equal(ack.conversation_id, cid);
  await all.close();
});
