// Message changes over the WebSocket gateway: edits, deletes and reactions
// (and member changes) reach every subscriber as events in the one seq order
// of the conversation, live, after a reconnect (catch-up from PostgreSQL,
// rendered from the current state: never stale), in the offline delivery of
// a connect, and by the reconcile while Redis is down. The edit / delete /
// react frames follow the same rules as REST. Changes are made with the
// frames or by calling the SQL functions through psql, never through REST.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { api, user, direct, send, sleep, until, psql, withoutRedis } from './helpers.mjs';
import { client, convUrl, allUrl, isMsg } from './wsclient.mjs';

const WS = process.env.CHAT_WS_URL || 'ws://127.0.0.1:18000';

const DURABLE = new Set(['message', 'offline_message', 'message_updated', 'message_deleted',
  'reaction_added', 'reaction_removed', 'member_added', 'member_removed']);
// The durable events a socket got for conversation cid, in arrival order.
const durable = (c, cid) => c.events.filter(e => DURABLE.has(e.type) && e.conversation_id === cid);
const seqs = evs => evs.map(e => e.seq);
const types = evs => evs.map(e => e.type);

// The SQL functions of sql/005, as chat-api and the gateway call them.
const sqlEdit = (mid, uid, content) =>
  psql(`SELECT r_status || ':' || coalesce(r_seq::text, '') FROM chat_message_edit('${mid}', '${uid}', '${content}', 0, '{}')`);
const sqlDelete = (mid, uid) =>
  psql(`SELECT r_status || ':' || coalesce(r_seq::text, '') FROM chat_message_delete('${mid}', '${uid}')`);
const sqlReact = (mid, uid, emoji, on) =>
  psql(`SELECT r_status || ':' || coalesce(r_seq::text, '') FROM chat_message_react('${mid}', '${uid}', '${emoji}', ${on}, 50)`);

const delivered = (cid, u) =>
  psql(`SELECT delivered_seq FROM conversation_members WHERE conversation_id = '${cid}' AND user_id = '${u.id}'`);

// Send a change frame on socket c and wait for its answer (changed or error) about mid.
async function frame(c, obj) {
  const before = c.events.length;
  c.send(obj);
  return c.next(e => c.events.indexOf(e) >= before &&
    ((e.type === 'changed' && e.message_id === obj.message_id) || e.type === 'error'));
}

// Wait until socket c has durable events of cid up to seq n.
const upTo = (c, cid, n, ms = 6000) => c.next(e => DURABLE.has(e.type) && e.conversation_id === cid && e.seq === n, ms);

test('live edit, reactions and delete reach a per-conversation and an all-conversations socket in seq order, contiguous with the messages', async () => {
  const a = await user(); const b = await user();
  const cid = await direct(a, b);
  const ca = client(convUrl(WS, cid, a.token));
  const cb = client(convUrl(WS, cid, b.token));
  const all = client(allUrl(WS, b.token));
  await Promise.all([ca.opened, cb.opened, all.opened]);
  await sleep(300);
  const mid = (await send(cid, a, 'first')).json.id;
  await upTo(cb, cid, 1);
  const edit = await frame(ca, { type: 'edit', message_id: mid, content: `first, edited for @${b.name.toUpperCase()}` });
  assert.deepEqual([edit.type, edit.seq], ['changed', 2]);
  assert.equal((await frame(cb, { type: 'react', message_id: mid, emoji: '👍' })).seq, 3);
  assert.equal((await frame(cb, { type: 'react', message_id: mid, emoji: '👍', on: false })).seq, 4);
  await send(cid, b, 'second'); // seq 5
  assert.equal((await frame(ca, { type: 'delete', message_id: mid })).seq, 6);
  const want = ['message', 'message_updated', 'reaction_added', 'reaction_removed', 'message', 'message_deleted'];
  for (const c of [cb, all, ca]) {
    await upTo(c, cid, 6);
    const evs = durable(c, cid);
    assert.deepEqual(seqs(evs), [1, 2, 3, 4, 5, 6]);
    assert.deepEqual(types(evs), want);
  }
  const evs = durable(cb, cid);
  assert.equal(evs[1].message_id, mid);
  assert.equal(evs[1].user_id, a.id);
  assert.equal(evs[1].message.content, `first, edited for @${b.name.toUpperCase()}`);
  assert.deepEqual(evs[1].message.mentions, [b.id], 'an edit mentions members by @name (any case)');
  assert.ok(evs[1].message.edited_at);
  assert.deepEqual([evs[2].emoji, evs[2].count, evs[2].user_id], ['👍', 1, b.id]);
  assert.deepEqual([evs[3].emoji, evs[3].count], ['👍', 0]);
  assert.equal(evs[5].message.deleted, true);
  assert.equal(evs[5].message.content, null);
  // the delivered watermarks are message seqs: the change events (seq 6 last) move none
  await sleep(1200); // two flushes of the delivered marks
  assert.deepEqual([delivered(cid, a), delivered(cid, b)], ['5', '5']);
  await Promise.all([ca.close(), cb.close(), all.close()]);
});

test('a client away while a message is edited twice then deleted gets the tombstone first, then every seq in order', async () => {
  const a = await user(); const b = await user();
  const cid = await direct(a, b);
  await send(cid, a, 'kept');                          // 1
  const mid = (await send(cid, a, 'doomed')).json.id;  // 2
  assert.equal(sqlEdit(mid, a.id, 'doomed v2'), 'ok:3');
  assert.equal(sqlEdit(mid, a.id, 'doomed v3'), 'ok:4');
  assert.equal(sqlReact(mid, b.id, ':tada:', true), 'ok:5');
  assert.equal(sqlDelete(mid, a.id), 'ok:6');
  const cb = client(convUrl(WS, cid, b.token, '&since_seq=1'));
  await cb.opened;
  await upTo(cb, cid, 6);
  const evs = durable(cb, cid);
  assert.deepEqual(seqs(evs), [2, 3, 4, 5, 6]);
  assert.deepEqual(types(evs), ['message', 'message_updated', 'message_updated', 'reaction_added', 'message_deleted']);
  const first = evs[0];
  assert.equal(first.id, mid);
  assert.equal(first.deleted, true, 'never the stale text');
  assert.equal(first.content, null);
  for (const e of [evs[1], evs[2], evs[4]]) assert.equal(e.message.deleted, true);
  assert.ok(!JSON.stringify(cb.events).includes('doomed'), 'no stale content anywhere');
  // delivered marks for the message creation only (2), not for the change events after it
  assert.equal(await until(() => delivered(cid, b) === '2', 3000), true);
  await sleep(1200);
  assert.equal(delivered(cid, b), '2');
  // the stream goes on from there
  await send(cid, a, 'after');
  const m = await cb.next(isMsg('after'));
  assert.equal(m.seq, 7);
  await cb.close();
});

test('offline delivery on connect includes the change events', async () => {
  const a = await user(); const b = await user();
  const cid = await direct(a, b);
  const mid = (await send(cid, a, 'while you were away')).json.id; // 1
  assert.equal(sqlReact(mid, a.id, '🎉', true), 'ok:2');
  assert.equal(sqlEdit(mid, a.id, 'while you were away (edited)'), 'ok:3');
  const all = client(allUrl(WS, b.token));
  await all.opened;
  await upTo(all, cid, 3);
  const evs = durable(all, cid);
  assert.deepEqual(seqs(evs), [1, 2, 3]);
  assert.deepEqual(types(evs), ['offline_message', 'reaction_added', 'message_updated']);
  assert.equal(evs[0].content, 'while you were away (edited)');
  assert.deepEqual(evs[0].reactions.map(r => [r.emoji, r.count]), [['🎉', 1]]);
  await all.close();
});

test('edit, delete and react frames: forbidden on someone else\'s message, not_found for a non-member, validated like REST', async () => {
  const a = await user(); const b = await user(); const x = await user();
  const cid = await direct(a, b);
  const ca = client(convUrl(WS, cid, a.token));
  const cb = client(convUrl(WS, cid, b.token));
  const cx = client(allUrl(WS, x.token));
  await Promise.all([ca.opened, cb.opened, cx.opened]);
  await sleep(300);
  const mid = (await send(cid, a, 'mine')).json.id;
  await upTo(cb, cid, 1);
  let r = await frame(cb, { type: 'edit', message_id: mid, content: 'not yours' });
  assert.deepEqual([r.type, r.code], ['error', 'forbidden']);
  r = await frame(cb, { type: 'delete', message_id: mid });
  assert.deepEqual([r.type, r.code], ['error', 'forbidden']);
  for (const f of [{ type: 'edit', message_id: mid, content: 'x' }, { type: 'delete', message_id: mid },
    { type: 'react', message_id: mid, emoji: '👍' }]) {
    r = await frame(cx, f);
    assert.deepEqual([r.type, r.code], ['error', 'not_found'], f.type);
  }
  r = await frame(ca, { type: 'edit', message_id: mid, content: '   ' });
  assert.deepEqual([r.type, r.code], ['error', 'validation_error']);
  r = await frame(cb, { type: 'react', message_id: mid, emoji: 'not an emoji' });
  assert.deepEqual([r.type, r.code], ['error', 'validation_error']);
  r = await frame(cb, { type: 'delete', message_id: 'nope' });
  assert.deepEqual([r.type, r.code], ['error', 'validation_error']);
  // an edit to the same text changes nothing: no seq, no event
  r = await frame(ca, { type: 'edit', message_id: mid, content: 'mine' });
  assert.deepEqual([r.type, r.seq], ['changed', null]);
  // a reaction and its repeat: one event
  assert.equal((await frame(cb, { type: 'react', message_id: mid, emoji: ':ok:' })).seq, 2);
  assert.equal((await frame(cb, { type: 'react', message_id: mid, emoji: ':ok:' })).seq, null);
  assert.equal((await frame(ca, { type: 'delete', message_id: mid })).seq, 3);
  r = await frame(ca, { type: 'edit', message_id: mid, content: 'too late' });
  assert.deepEqual([r.type, r.code], ['error', 'message_deleted']);
  r = await frame(cb, { type: 'react', message_id: mid, emoji: ':ok:' });
  assert.deepEqual([r.type, r.code], ['error', 'message_deleted']);
  assert.equal((await frame(ca, { type: 'delete', message_id: mid })).seq, null, 'deleting again: nothing new');
  await upTo(cb, cid, 3);
  assert.deepEqual(seqs(durable(cb, cid)), [1, 2, 3]);
  assert.equal(durable(cx, cid).length, 0);
  // the row is the tombstone
  assert.equal(psql(`SELECT content = '' AND deleted_at IS NOT NULL FROM messages WHERE id = '${mid}'`), 't');
  await Promise.all([ca.close(), cb.close(), cx.close()]);
});

test('with Redis stopped, an edit by the SQL function and one by a frame reach the open socket (reconcile)', async () => {
  const a = await user(); const b = await user();
  const cid = await direct(a, b);
  const ca = client(convUrl(WS, cid, a.token));
  const cb = client(convUrl(WS, cid, b.token));
  await Promise.all([ca.opened, cb.opened]);
  await sleep(300);
  const mid = (await send(cid, a, 'before the outage')).json.id;
  await upTo(cb, cid, 1);
  await withoutRedis(async () => {
    assert.equal(sqlEdit(mid, a.id, 'edited in the database'), 'ok:2');
    const u = await upTo(cb, cid, 2, 6000);
    assert.equal(u.type, 'message_updated');
    assert.equal(u.message.content, 'edited in the database');
    const r = await frame(ca, { type: 'edit', message_id: mid, content: 'edited by a frame' });
    assert.deepEqual([r.type, r.seq], ['changed', 3]);
    const v = await upTo(cb, cid, 3, 6000);
    assert.equal(v.message.content, 'edited by a frame');
  });
  await sleep(1500); // a later round delivers nothing twice
  assert.deepEqual(seqs(durable(cb, cid)), [1, 2, 3]);
  await Promise.all([ca.close(), cb.close()]);
});

test('member_added and member_removed reach the remaining members live, at their seqs', async () => {
  const owner = await user(); const m = await user(); const joiner = await user();
  const room = (await api('POST', '/chat/rooms', { name: 'events', member_ids: [m.id] }, owner.token)).json;
  const cid = room.id;
  const cm = client(convUrl(WS, cid, m.token));
  const mAll = client(allUrl(WS, m.token));
  const all = client(allUrl(WS, owner.token));
  const jAll = client(allUrl(WS, joiner.token)); // not a member yet
  await Promise.all([cm.opened, mAll.opened, all.opened, jAll.opened]);
  await sleep(300);
  await send(cid, owner, 'hello room'); // 1
  await upTo(all, cid, 1);
  const t0 = Date.now();
  assert.equal((await api('POST', `/chat/rooms/${cid}/members/${joiner.id}`, {}, owner.token)).status, 201); // 2
  await upTo(all, cid, 2);
  // live from the announcement, not the reconcile's two rounds of a second
  assert.ok(Date.now() - t0 < 900, `member_added after ${Date.now() - t0} ms`);
  await sleep(300); // the joiner's subscription is made from the announcement
  assert.equal((await api('DELETE', `/chat/rooms/${cid}/members/${m.id}`, null, owner.token)).status, 204); // 3
  assert.equal(await cm.closed, 4403); // the removed member's per-conversation socket
  await send(cid, owner, 'after the change'); // 4
  await upTo(all, cid, 4);
  const evs = durable(all, cid);
  assert.deepEqual(seqs(evs), [1, 2, 3, 4]);
  assert.deepEqual(types(evs), ['message', 'member_added', 'member_removed', 'message']);
  assert.equal(evs[1].user_id, joiner.id);
  assert.equal(evs[2].user_id, m.id);
  await upTo(jAll, cid, 4);
  assert.deepEqual(seqs(durable(jAll, cid)), [3, 4], 'the joiner starts after its join, then every event');
  assert.equal(durable(jAll, cid)[0].type, 'member_removed');
  await sleep(300);
  assert.ok(!durable(mAll, cid).some(e => e.seq >= 4), 'the removed member gets nothing after the removal');
  await Promise.all([all.close(), jAll.close(), mAll.close()]);
});
