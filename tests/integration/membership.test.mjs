// Bounded membership, against the test stack's MAX_GROUP_MEMBERS=10 and
// MAX_ROOMS_PER_USER=3 (scripts/stack.sh): the caps hold under concurrent
// requests, and room lists and member lists come in pages.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { api, user } from './helpers.mjs';

const MAX = 10;

async function users(n) {
  const out = [];
  for (let i = 0; i < n; i++) out.push(await user());
  return out;
}

function assertError(r, status, code) {
  assert.equal(r.status, status, JSON.stringify(r.json));
  assert.equal(typeof r.json.error.message, 'string');
  if (code) assert.equal(r.json.error.code, code);
}

test('a group or room create names at most MAX_GROUP_MEMBERS - 1 others', async () => {
  const [a, ...others] = await users(MAX + 1);
  const ids = others.map(u => u.id);
  assertError(await api('POST', '/conversations/group', { type: 'group', name: 'big', participant_ids: ids }, a.token), 422);
  const g = await api('POST', '/conversations/group', { type: 'group', name: 'full', participant_ids: ids.slice(0, MAX - 1) }, a.token);
  assert.equal(g.status, 201);
  assert.equal(g.json.participant_count, MAX);
  assertError(await api('POST', '/chat/rooms', { name: 'big', member_ids: ids }, a.token), 422);
  const r = await api('POST', '/chat/rooms', { name: 'full', member_ids: ids.slice(0, MAX - 1) }, a.token);
  assert.equal(r.status, 201);
  assert.equal(r.json.member_count, MAX);
});

test('concurrent adds to a room stop exactly at MAX_GROUP_MEMBERS', async () => {
  const [owner, ...rest] = await users(MAX + 5);
  const room = (await api('POST', '/chat/rooms', { name: 'race', member_ids: rest.slice(0, 4).map(u => u.id) }, owner.token)).json;
  assert.equal(room.member_count, 5);
  const candidates = rest.slice(4); // 10 more for 5 places
  const got = await Promise.all(candidates.map(u => api('POST', `/chat/rooms/${room.id}/members/${u.id}`, {}, owner.token)));
  const statuses = got.map(r => r.status).sort();
  assert.deepEqual(statuses, [201, 201, 201, 201, 201, 409, 409, 409, 409, 409]);
  for (const r of got.filter(r => r.status === 409)) assertError(r, 409, 'limit_exceeded');
  const after = (await api('GET', `/chat/rooms/${room.id}`, null, owner.token)).json;
  assert.equal(after.member_count, MAX);
  // an existing member added again is 200, not 409; a place freed is taken again
  const inRoom = candidates[got.findIndex(r => r.status === 201)];
  assert.equal((await api('POST', `/chat/rooms/${room.id}/members/${inRoom.id}`, {}, owner.token)).status, 200);
  assert.equal((await api('DELETE', `/chat/rooms/${room.id}/members/${inRoom.id}`, null, owner.token)).status, 204);
  const left = candidates[got.findIndex(r => r.status === 409)];
  assert.equal((await api('POST', `/chat/rooms/${room.id}/members/${left.id}`, {}, owner.token)).status, 201);
  // only owners and admins add; strangers see 404
  const member = rest[0], stranger = candidates.find(u => u !== left && got[candidates.indexOf(u)].status === 409);
  assertError(await api('POST', `/chat/rooms/${room.id}/members/${stranger.id}`, {}, member.token), 403);
  assertError(await api('POST', `/chat/rooms/${room.id}/members/${member.id}`, {}, stranger.token), 404);
});

test('a user creates at most MAX_ROOMS_PER_USER rooms, even all at once', async () => {
  const a = await user();
  const got = await Promise.all([1, 2, 3, 4, 5, 6].map(i => api('POST', '/chat/rooms', { name: `r${i}` }, a.token)));
  const statuses = got.map(r => r.status).sort();
  assert.deepEqual(statuses, [201, 201, 201, 409, 409, 409]);
  for (const r of got.filter(r => r.status === 409)) assertError(r, 409, 'limit_exceeded');
  const list = (await api('GET', '/chat/rooms', null, a.token)).json;
  assert.equal(list.rooms.length, 3);
});

test('GET /chat/rooms comes in pages; the cursor is a room id in any letter case', async () => {
  const [a, b, c] = await users(3);
  const made = [];
  for (const x of [a, b, c]) made.push((await api('POST', '/chat/rooms', { name: `p-${x.name}`, member_ids: [a.id, b.id, c.id].filter(id => id !== x.id) }, x.token)).json.id);
  const p1 = (await api('GET', '/chat/rooms?limit=2', null, a.token)).json;
  assert.equal(p1.rooms.length, 2);
  assert.equal(p1.has_more, true);
  assert.equal(p1.next_cursor, p1.rooms[1].id);
  const p2 = (await api('GET', `/chat/rooms?limit=2&cursor=${p1.next_cursor.toUpperCase()}`, null, a.token)).json;
  assert.equal(p2.rooms.length, 1);
  assert.equal(p2.has_more, false);
  assert.equal(p2.next_cursor, null);
  assert.deepEqual([...p1.rooms, ...p2.rooms].map(r => r.id).sort(), [...made].sort());
  assertError(await api('GET', '/chat/rooms?cursor=nope', null, a.token), 422);
  assertError(await api('GET', '/chat/rooms?limit=0', null, a.token), 422);
  assertError(await api('GET', '/chat/rooms?limit=101', null, a.token), 422);
});

test('member lists come in pages, to members only', async () => {
  const [a, ...rest] = await users(MAX);
  const room = (await api('POST', '/chat/rooms', { name: 'paged', member_ids: rest.map(u => u.id) }, a.token)).json;
  const g = (await api('POST', '/conversations/group', { type: 'group', name: 'paged', participant_ids: rest.map(u => u.id) }, a.token)).json;
  for (const base of [`/chat/rooms/${room.id}`, `/conversations/${g.id}`]) {
    const seen = [];
    let cursor = null, pages = 0;
    do {
      const r = await api('GET', `${base}/members?limit=4${cursor ? `&cursor=${cursor}` : ''}`, null, rest[3].token);
      assert.equal(r.status, 200, JSON.stringify(r.json));
      seen.push(...r.json.members);
      cursor = r.json.next_cursor;
      pages++;
      assert.equal(r.json.has_more, cursor !== null);
    } while (cursor);
    assert.equal(pages, 3);
    assert.deepEqual(seen.map(m => m.user_id).sort(), [a.id, ...rest.map(u => u.id)].sort());
    assert.equal(seen[0].user_id, a.id, 'join order: the creator first');
    assert.equal(seen[0].role, 'owner');
    const stranger = await user();
    assertError(await api('GET', `${base}/members`, null, stranger.token), 404);
    assertError(await api('GET', `${base}/members?cursor=${stranger.id}`, null, a.token), 422);
  }
  assertError(await api('GET', `/conversations/${room.id.toUpperCase()}/members?limit=1`, null, (await user()).token), 404);
  const up = await api('GET', `/conversations/${g.id.toUpperCase()}/members?limit=1`, null, a.token);
  assert.equal(up.status, 200);
  assert.equal(up.json.members[0].user_id, a.id);
});
