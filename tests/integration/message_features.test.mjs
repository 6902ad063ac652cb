// What happens to a message after it is sent, over REST: edit, delete
// (the text erased in PostgreSQL, a tombstone kept), reactions, replies,
// mentions and the conversation's event log (/events), with their access
// rules, concurrency (many edits of one message, many reactions at once),
// the history cache (equal to the database after every kind of change,
// also across a Redis outage) and the counts that must not move (unread,
// mention_count). The WebSocket side is message_events_ws.test.mjs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { BASE, api, user, direct, sleep, psql, withoutRedis } from './helpers.mjs';
import { client, convUrl, allUrl } from './wsclient.mjs';

const WS = process.env.CHAT_WS_URL || 'ws://127.0.0.1:18000';

const edit = (mid, u, content) => api('PATCH', `/conversations/messages/${mid}`, { content }, u.token);
const del = (mid, u) => api('DELETE', `/conversations/messages/${mid}`, null, u.token);
const react = (mid, u, emoji) => api('POST', `/conversations/messages/${mid}/reactions`, { emoji }, u.token);
const unreact = (mid, u, emoji) =>
  api('DELETE', `/conversations/messages/${mid}/reactions/${encodeURIComponent(emoji)}`, null, u.token);
const events = (cid, u, q = '') => api('GET', `/conversations/${cid}/events${q}`, null, u.token);
const sent = async (cid, u, body) => {
  const r = await api('POST', `/conversations/${cid}/messages`, typeof body === 'string' ? { content: body } : body, u.token);
  assert.equal(r.status, 201, JSON.stringify(r.json));
  return r.json;
};
const group = async (owner, members, name = 'features') => {
  const r = await api('POST', '/conversations/group',
    { type: 'group', name, participant_ids: members.map(m => m.id) }, owner.token);
  assert.equal(r.status, 201, JSON.stringify(r.json));
  return r.json.id;
};
// A legacy chat room (a conversation whose owner adds and removes members).
const room = async (owner, members, name = 'features room') => {
  const r = await api('POST', '/chat/rooms', { name, member_ids: members.map(m => m.id) }, owner.token);
  assert.equal(r.status, 201, JSON.stringify(r.json));
  return r.json.id;
};
// The conversation as u's list shows it (rooms are not in GET /conversations: the single GET).
async function convOf(u, cid) {
  const one = await api('GET', `/conversations/${cid}`, null, u.token);
  assert.equal(one.status, 200, JSON.stringify(one.json));
  const listed = (await api('GET', '/conversations', null, u.token)).json.conversations.find(c => c.id === cid);
  if (listed) assert.deepEqual(listed, one.json, 'the list and the single GET agree');
  return one.json;
}

// History with or without the cache, with its X-Cache header.
async function history(cid, u, cache) {
  const r = await fetch(`${BASE}/api/v1/conversations/${cid}/messages?limit=50${cache ? '&use_cache=true' : ''}`,
    { headers: { authorization: `Bearer ${u.token}` } });
  assert.equal(r.status, 200);
  return { body: await r.json(), cache: r.headers.get('x-cache') };
}

// The cached first page equals the database's, and a second read is a hit.
// settleMs: after a Redis restart chat-api's workers reconnect after their
// back-off, so reads may miss (answered from the database) for that long;
// every read must equal the database all the same.
async function cacheEqualsDb(cid, u, what, settleMs = 0) {
  const db = (await history(cid, u, false)).body;
  const first = await history(cid, u, true);
  assert.deepEqual(first.body, db, `${what}: first cached read equals the database`);
  const end = Date.now() + settleMs;
  for (;;) {
    const next = await history(cid, u, true);
    assert.deepEqual(next.body, db, `${what}: the cache equals the database`);
    if (next.cache === 'hit') return db;
    assert.ok(Date.now() < end, `${what}: the second read is served by the cache (got ${next.cache})`);
    await sleep(100);
  }
}

// Every event after since_seq, page by page (limit per page).
async function allEvents(cid, u, since = 0, limit = 100) {
  const out = [];
  for (let guard = 0; guard < 1000; guard++) {
    const r = await events(cid, u, `?since_seq=${since}&limit=${limit}`);
    assert.equal(r.status, 200, JSON.stringify(r.json));
    out.push(...r.json.events);
    if (r.json.events.length) assert.equal(r.json.next_seq, r.json.events.at(-1).seq);
    else assert.equal(r.json.next_seq, since);
    since = r.json.next_seq;
    if (!r.json.has_more) return out;
    assert.equal(r.json.events.length, limit, 'a page with more after it is full');
  }
  throw new Error('no end of events');
}
const contiguous = (evs, from) => evs.forEach((e, i) => assert.equal(e.seq, from + i, `event ${i} seq`));

test('only members reach a message; only the sender edits; the sender or an owner deletes; ids in any letter case', async () => {
  const owner = await user(); const b = await user(); const stranger = await user();
  const cid = await room(owner, [b]);
  const mOwner = await sent(cid, owner, 'by the owner');
  const mB = await sent(cid, b, 'by b');
  const up = mB.id.toUpperCase();

  for (const [name, r] of [
    ['edit', await edit(mB.id, stranger, 'x')], ['delete', await del(mB.id, stranger)],
    ['react', await react(mB.id, stranger, '👍')], ['unreact', await unreact(mB.id, stranger, '👍')],
    ['edit upper-case', await edit(up, stranger, 'x')], ['delete upper-case', await del(up, stranger)],
    ['events', await events(cid, stranger)], ['events upper-case', await events(cid.toUpperCase(), stranger)],
    ['unknown message', await edit(randomUUID(), b, 'x')]]) {
    assert.equal(r.status, 404, `${name}: ${JSON.stringify(r.json)}`);
    assert.equal(r.json.error.code, 'not_found', name);
  }
  for (const bad of ['not-a-uuid', '00000000-0000-0000-0000-00000000000g', `${mB.id}x`]) {
    const r = await edit(bad, b, 'x');
    assert.ok([404, 422].includes(r.status), `${bad}: ${r.status}`);
    assert.ok(r.json.error.code, bad);
  }

  let r = await edit(mOwner.id, b, 'not mine');
  assert.equal(r.status, 403);
  assert.equal(r.json.error.code, 'forbidden');
  r = await del(mOwner.id, b);
  assert.equal(r.status, 403);
  assert.equal(r.json.error.code, 'forbidden');

  r = await edit(up, b, 'by b, edited');
  assert.equal(r.status, 200, JSON.stringify(r.json));
  assert.equal(r.json.id, mB.id, 'the canonical id');
  assert.equal(r.json.content, 'by b, edited');
  assert.ok(Date.parse(r.json.edited_at) >= Date.parse(mB.created_at));
  assert.equal(r.json.created_at, mB.created_at, 'an edit keeps the time it was sent');
  assert.equal(r.json.seq, mB.seq, 'an edit keeps the message\'s seq');

  // The owner of the room deletes a member's message.
  assert.equal((await del(up, owner)).status, 204);
  const removed = await api('DELETE', `/chat/rooms/${cid}/members/${b.id}`, null, owner.token);
  assert.equal(removed.status, 204);
  // A removed member is a stranger now, in any letter case.
  for (const rr of [await edit(mOwner.id.toUpperCase(), b, 'x'), await react(mOwner.id, b, '👍'),
    await events(cid.toUpperCase(), b)])
    assert.equal(rr.status, 404);
});

test('an edit is validated like a send and its @mentions count; edits and reactions are not messages', async () => {
  const a = await user(); const b = await user();
  const cid = await direct(a, b);
  const m = await sent(cid, a, 'first');
  for (const [body, why] of [[{}, 'missing'], [{ content: '' }, 'empty'], [{ content: '   ' }, 'blank'],
    [{ content: 7 }, 'a number'], [{ content: 'x'.repeat(4001) }, 'too long'], [{ content: 'a\u0000b' }, 'NUL']]) {
    const r = await api('PATCH', `/conversations/messages/${m.id}`, body, a.token);
    assert.equal(r.status, 422, `${why}: ${JSON.stringify(r.json)}`);
    assert.equal(r.json.error.code, 'validation_error', why);
  }
  const r = await edit(m.id, a, `first, now for @${b.name.toUpperCase()}`);
  assert.equal(r.status, 200);
  assert.deepEqual(r.json.mentions, [b.id], '@name in any letter case mentions the member');

  await sent(cid, a, 'second');
  await sent(cid, a, 'third');
  assert.equal((await react(m.id, b, '🎉')).status, 201);
  assert.equal((await edit(m.id, a, 'first, again')).status, 200);
  const conv = await convOf(b, cid);
  assert.equal(conv.unread_count, 3, 'three messages unread, whatever happened to them');
  assert.equal(conv.last_message.content, 'third', 'last_message is the last message, not the last change');
  assert.equal(conv.mention_count, 1, 'the edit added a mention of b');
});

test('a deleted message is erased in PostgreSQL and stays in history as a tombstone', async () => {
  const a = await user(); const b = await user();
  const cid = await direct(a, b);
  const m = await sent(cid, a, { content: `secret for @${b.name}`, mention_ids: [b.id] });
  assert.equal((await convOf(b, cid)).mention_count, 1);
  const reply = await sent(cid, b, { content: 'answer', reply_to_id: m.id }); // b has read up to here
  assert.equal((await react(m.id, b, '👍')).status, 201);
  await sent(cid, a, 'after');
  const unread = await sent(cid, a, `unread, for @${b.name}`);
  let conv = await convOf(b, cid);
  assert.deepEqual([conv.unread_count, conv.mention_count], [2, 1]);

  assert.equal((await del(m.id, a)).status, 204);
  const row = psql(`SELECT content || '|' || (deleted_at IS NOT NULL) || '|' || cardinality(mentions) || '|' || reactions::text
                    FROM messages WHERE id = '${m.id}'`);
  assert.equal(row, '|true|0|[]', 'content, mentions and reactions are gone from the row');
  assert.equal(psql(`SELECT count(*) FROM message_reactions WHERE message_id = '${m.id}'`), '0');
  assert.equal(psql(`SELECT count(*) FROM message_mentions WHERE message_id = '${m.id}'`), '0');
  assert.equal(psql(`SELECT count(*) FROM messages WHERE content LIKE '%secret for%'`), '0');

  const page = await cacheEqualsDb(cid, a, 'after a delete');
  const tomb = page.messages.find(x => x.id === m.id);
  assert.equal(tomb.deleted, true);
  assert.equal(tomb.content, null);
  assert.equal(tomb.seq, m.seq);
  assert.deepEqual(tomb.reactions, []);
  assert.deepEqual(tomb.mentions, []);
  assert.deepEqual(tomb.own_reactions, []);
  const answer = page.messages.find(x => x.id === reply.id);
  assert.deepEqual(answer.reply_to, { id: m.id, sender_id: a.id, content: null, deleted: true },
    'the reply\'s preview says what it answered was deleted, without its text');
  assert.equal((await del(unread.id, a)).status, 204);
  conv = await convOf(b, cid);
  assert.equal(conv.unread_count, 2, 'the tombstone keeps its place in the counts');
  assert.equal(conv.mention_count, 0, 'a deleted message mentions nobody');
  assert.equal(conv.last_message.id, unread.id);
  assert.equal(conv.last_message.deleted, true, 'the last message is shown as its tombstone');

  const again = await del(m.id, a);
  assert.ok([204, 404].includes(again.status), `deleting twice: ${again.status}`);
  for (const [what, r, code] of [['edit', await edit(m.id, a, 'back'), 'message_deleted'],
    ['react', await react(m.id, b, '👍'), 'message_deleted']]) {
    assert.equal(r.status, 409, what);
    assert.equal(r.json.error.code, code, what);
  }
});

test('replies carry a preview of what they answer, from this conversation only', async () => {
  const a = await user(); const b = await user(); const c = await user();
  const cid = await direct(a, b);
  const other = await direct(a, c);
  const long = `${'ü'.repeat(99)}€ and the rest`;
  const m = await sent(cid, a, long);
  const elsewhere = await sent(other, a, 'in another conversation');
  const r = await sent(cid, b, { content: 're', reply_to_id: m.id.toUpperCase() });
  assert.deepEqual(r.reply_to, { id: m.id, sender_id: a.id, content: long.slice(0, 100), deleted: false },
    'the first 100 characters, not bytes');
  for (const [id, why] of [[elsewhere.id, 'another conversation'], [randomUUID(), 'no such message'],
    ['nope', 'not a uuid'], [7, 'a number']]) {
    const x = await api('POST', `/conversations/${cid}/messages`, { content: 're', reply_to_id: id }, b.token);
    assert.equal(x.status, 422, `${why}: ${JSON.stringify(x.json)}`);
    assert.equal(x.json.error.code, 'validation_error', why);
  }
  assert.equal((await edit(m.id, a, 'short now')).status, 200);
  const page = await cacheEqualsDb(cid, a, 'after an edit of a replied-to message');
  assert.equal(page.messages.find(x => x.id === r.id).reply_to.content, 'short now',
    'the preview shows the current text');
});

test('mentions: @name of members and mention_ids, never strangers; mention_count drops when read', async () => {
  const a = await user(); const b = await user(); const c = await user(); const stranger = await user();
  const cid = await group(a, [b, c]);
  const m1 = await sent(cid, a, `hi @${b.name} and @${stranger.name}, @${b.name} again`);
  assert.deepEqual(m1.mentions, [b.id], 'members only, once each');
  const m2 = await sent(cid, a, { content: 'see this', mention_ids: [c.id, stranger.id, a.id] });
  assert.deepEqual(m2.mentions, [c.id], 'explicit ids of other members only');
  const m3 = await sent(cid, a, { content: `@${c.name}`, mention_ids: [b.id] });
  assert.deepEqual([...m3.mentions].sort(), [b.id, c.id].sort());
  for (const bad of [['x'], 'x', [7], Array.from({ length: 51 }, () => randomUUID())]) {
    const r = await api('POST', `/conversations/${cid}/messages`, { content: 'x', mention_ids: bad }, a.token);
    assert.equal(r.status, 422, JSON.stringify(bad).slice(0, 40));
  }
  assert.equal((await convOf(b, cid)).mention_count, 2);
  assert.equal((await convOf(c, cid)).mention_count, 2);
  assert.equal((await convOf(a, cid)).mention_count, 0, 'the sender is not mentioned by the @names it wrote');
  assert.equal((await api('POST', `/conversations/messages/${m1.id}/read`, {}, b.token)).status, 200);
  const cb = await convOf(b, cid);
  assert.equal(cb.mention_count, 1, 'm1 read, m3 still unread');
  assert.equal(cb.unread_count, 2);
  assert.equal((await api('POST', `/conversations/${cid}/read`, {}, b.token)).status, 200);
  assert.equal((await convOf(b, cid)).mention_count, 0);
  const page = await cacheEqualsDb(cid, a, 'after mentions');
  assert.deepEqual(page.messages.find(x => x.id === m2.id).mentions, [c.id]);
});

test('reactions: validated, idempotent, counted exactly when every member reacts at once', async () => {
  const owner = await user();
  const members = await Promise.all(Array.from({ length: 9 }, () => user()));
  const everyone = [owner, ...members];
  const cid = await group(owner, members, 'reactions');
  const m = await sent(cid, owner, 'react to me');

  for (const ok of ['👍', '👍🏽', '👨‍👩‍👧', '🇫🇷', ':thumbs_up:', ':+1:', '❤️'])
    assert.equal((await react(m.id, owner, ok)).status, 201, ok);
  for (const ok of ['👍🏽', '👨‍👩‍👧', '🇫🇷', ':+1:', '❤️'])
    assert.equal((await unreact(m.id, owner, ok)).status, 204, ok);
  for (const bad of ['', 'a', 'ab', '👍👍', ':Upper:', ':no space:', '::', ':open', ' 👍', '\u0301', '\u200b',
    'x'.repeat(65), `:${'a'.repeat(63)}:`]) {
    const r = await react(m.id, owner, bad);
    assert.equal(r.status, 422, `${JSON.stringify(bad)}: ${JSON.stringify(r.json)}`);
    assert.equal(r.json.error.code, 'validation_error');
  }
  for (const bad of [7, null, ['👍']]) {
    const r = await api('POST', `/conversations/messages/${m.id}/reactions`, { emoji: bad }, owner.token);
    assert.equal(r.status, 422, JSON.stringify(bad));
  }
  let r = await react(m.id, owner, '👍');
  assert.equal(r.status, 200, 'already there');
  assert.deepEqual(r.json, { message_id: m.id, emoji: '👍', count: 1, reacted: true });
  assert.equal((await unreact(m.id, members[0], '🙂')).status, 204, 'taking back what is not there');

  const startSeq = (await events(cid, owner, '?limit=500')).json.next_seq;
  const emojis = ['👍', '🎉', '❤️', '😂', ':ship_it:'];
  const all = await Promise.all(everyone.flatMap(u => emojis.map(e => react(m.id, u, e))));
  const statuses = all.map(x => x.status);
  assert.equal(statuses.filter(s => s === 201).length, 49, 'each reaction added once (the owner\'s 👍 was there)');
  assert.equal(statuses.filter(s => s === 200).length, 1);
  const page = await cacheEqualsDb(cid, owner, 'after concurrent reactions');
  const got = page.messages.find(x => x.id === m.id).reactions;
  assert.deepEqual(got.map(x => [x.emoji, x.count]).sort(),
    [...emojis, ':thumbs_up:'].map(e => [e, e === ':thumbs_up:' ? 1 : 10]).sort());
  for (const x of got.filter(x => x.count === 10))
    assert.deepEqual([...x.user_ids].sort(), everyone.map(u => u.id).sort(), `${x.emoji}: everyone's id`);

  // Half take 👍 back at once, while the others add it again (already there).
  const back = await Promise.all(everyone.map((u, i) => (i % 2 ? unreact(m.id, u, '👍') : react(m.id, u, '👍'))));
  assert.deepEqual(back.map(x => x.status), everyone.map((u, i) => (i % 2 ? 204 : 200)));
  const after = (await cacheEqualsDb(cid, owner, 'after concurrent removals')).messages.find(x => x.id === m.id);
  assert.equal(after.reactions.find(x => x.emoji === '👍').count, 5);
  assert.equal(psql(`SELECT count(*) FROM message_reactions WHERE message_id = '${m.id}' AND emoji = '👍'`), '5');

  // Every change took one seq: 49 added, 5 removed, contiguous, and the counts replay exactly.
  const evs = await allEvents(cid, owner, startSeq);
  assert.equal(evs.length, 54);
  contiguous(evs, startSeq + 1);
  const replay = new Map();
  for (const e of evs) {
    assert.equal(e.message_id, m.id);
    const n = (replay.get(e.emoji) ?? (e.emoji === '👍' ? 1 : 0)) + (e.type === 'reaction_added' ? 1 : -1);
    assert.equal(e.count, n, `${e.type} ${e.emoji} at seq ${e.seq}: its count is the count after it`);
    replay.set(e.emoji, n);
  }
  assert.equal((await convOf(members[0], cid)).unread_count, 1, 'reactions are not messages');

  // Each caller sees their own reactions (own_reactions), from the cache as from the database.
  const own = i => [...emojis.filter(e => !(e === '👍' && i % 2)), ...(i === 0 ? [':thumbs_up:'] : [])].sort();
  for (const [i, u] of everyone.entries()) {
    const mine = (await cacheEqualsDb(cid, u, `own reactions of member ${i}`)).messages.find(x => x.id === m.id);
    assert.deepEqual([...mine.own_reactions].sort(), own(i), `member ${i}`);
  }
  r = await edit(m.id, owner, 'react to me, edited');
  assert.deepEqual([...r.json.own_reactions].sort(), own(0), 'the edit answers the editor\'s own reactions');
});

test('user_ids name the first 10 who reacted; a later one still finds their reaction in own_reactions', async () => {
  const owner = await user();
  const rid = await room(owner, [], 'many reactors');
  const m = await sent(rid, owner, 'popular');
  // More members than MAX_GROUP_MEMBERS allows over the API (10 in the test stack), added directly.
  const crowd = await Promise.all(Array.from({ length: 12 }, () => user()));
  psql(`INSERT INTO conversation_members (conversation_id, user_id, role)
        SELECT '${rid}', unnest('{${crowd.map(u => u.id).join(',')}}'::uuid[]), 'member'`);
  for (const u of crowd) assert.equal((await react(m.id, u, '🔥')).status, 201);
  const last = crowd.at(-1);
  const page = await cacheEqualsDb(rid, last, 'a crowd reacted');
  const got = page.messages.find(x => x.id === m.id);
  assert.equal(got.reactions[0].count, 12);
  assert.deepEqual(got.reactions[0].user_ids, crowd.slice(0, 10).map(u => u.id), 'the first 10, in the order they reacted');
  assert.deepEqual(got.own_reactions, ['🔥'], 'the 12th reactor is not in user_ids but knows they reacted');
  const ownerPage = await cacheEqualsDb(rid, owner, 'the owner did not react');
  assert.deepEqual(ownerPage.messages.find(x => x.id === m.id).own_reactions, []);
});

test('concurrent edits of one message: the last commit wins everywhere', async () => {
  const a = await user(); const b = await user();
  const cid = await direct(a, b);
  const m = await sent(cid, a, 'draft');
  const one = client(convUrl(WS, cid, b.token));
  const every = client(allUrl(WS, b.token));
  await Promise.all([one.opened, every.opened]);
  await sleep(300);
  const texts = Array.from({ length: 12 }, (_, i) => `version ${i}`);
  const rs = await Promise.all(texts.map(t => edit(m.id, a, t)));
  assert.deepEqual(rs.map(x => x.status), texts.map(() => 200));

  const evs = (await allEvents(cid, b)).filter(e => e.type === 'message_updated');
  assert.equal(evs.length, 12, 'one event per edit');
  contiguous(evs, m.seq + 1);
  // The event log renders each event from the message as it is now: one text everywhere.
  const last = psql(`SELECT content FROM messages WHERE id = '${m.id}'`);
  assert.ok(texts.includes(last), `the database holds one edit's text: ${last}`);
  assert.deepEqual(evs.map(e => e.message.content), texts.map(() => last));
  assert.deepEqual(rs.map(x => x.json.seq), texts.map(() => m.seq), 'an edit keeps the message\'s seq');
  const page = await cacheEqualsDb(cid, b, 'after concurrent edits');
  assert.equal(page.messages[0].content, last);
  for (const c of [one, every]) {
    await c.next(e => e.type === 'message_updated' && e.seq === evs.at(-1).seq, 6000);
    const seen = c.events.filter(e => e.type === 'message_updated');
    assert.deepEqual(seen.map(e => e.seq), evs.map(e => e.seq), 'every edit, in seq order');
    assert.equal(seen.at(-1).message.content, last, 'the socket ends with the same text');
  }
  await Promise.all([one.close(), every.close()]);
});

test('the history cache equals the database after every kind of change', async () => {
  const a = await user(); const b = await user();
  const cid = await direct(a, b);
  const ms = [];
  for (let i = 0; i < 5; i++) ms.push(await sent(cid, i % 2 ? b : a, `m${i}`));
  await cacheEqualsDb(cid, a, 'sends');
  const steps = [
    ['a reply', () => sent(cid, b, { content: 'reply', reply_to_id: ms[0].id })],
    ['an edit', () => edit(ms[0].id, a, 'm0 edited')],
    ['a reaction', () => react(ms[1].id, a, '👍')],
    ['a second emoji', () => react(ms[1].id, b, ':tada:')],
    ['a reaction taken back', () => unreact(ms[1].id, a, '👍')],
    ['a mention by edit', () => edit(ms[2].id, a, `m2 for @${b.name}`)],
    ['a delete', () => del(ms[3].id, b)],
    ['a delete of a replied-to message', () => del(ms[0].id, a)],
    ['a read', () => api('POST', `/conversations/${cid}/read`, {}, b.token)],
    ['a send after it all', () => sent(cid, a, 'later')],
  ];
  for (const [what, step] of steps) {
    const r = await step();
    assert.ok(r.id || [200, 201, 204].includes(r.status), `${what}: ${JSON.stringify(r.json)}`);
    await cacheEqualsDb(cid, a, what);
    await cacheEqualsDb(cid, b, `${what} (the other member)`);
  }
});

test('during a Redis outage edits, deletes and reactions stand; after it the cache and the sockets agree with the database', async () => {
  const a = await user(); const b = await user();
  const cid = await direct(a, b);
  const m1 = await sent(cid, a, 'one');
  const m2 = await sent(cid, a, 'two');
  await cacheEqualsDb(cid, b, 'before the outage');
  const sock = client(convUrl(WS, cid, b.token));
  await sock.opened;
  await sleep(300);
  await withoutRedis(async () => {
    const e = await edit(m1.id, a, 'one, edited blind');
    assert.equal(e.status, 200, JSON.stringify(e.json));
    assert.equal((await react(m1.id, b, '👀')).status, 201);
    assert.equal((await del(m2.id, a)).status, 204);
    const h = await history(cid, b, true);
    assert.equal(h.body.messages.find(x => x.id === m1.id).content, 'one, edited blind', 'history without Redis is the database');
  });
  const page = await cacheEqualsDb(cid, b, 'after the outage', 5000);
  assert.equal(page.messages.find(x => x.id === m2.id).deleted, true);
  // The open socket got every change, in order, without a later message.
  const last = (await allEvents(cid, b)).at(-1).seq;
  await sock.next(e => e.seq === last && e.type === 'message_deleted', 8000);
  assert.deepEqual(sock.events.filter(e => e.type.startsWith('message_') || e.type.startsWith('reaction_')).map(e => e.type),
    ['message_updated', 'reaction_added', 'message_deleted']);
  await sock.close();
});

test('/events: every durable change after since_seq, oldest first, paged; a long absence caught up', async () => {
  const a = await user(); const b = await user(); const c = await user();
  const cid = await room(a, [b]);
  const m = await sent(cid, a, 'start');
  const cursor = (await events(cid, b, '?limit=500')).json.next_seq; // b's last seen seq
  assert.equal(cursor, m.seq);

  // While b is away: 150 messages, edits, reactions, a delete, a member change.
  for (let i = 0; i < 150; i++) await sent(cid, a, `away ${i}`);
  assert.equal((await edit(m.id, a, 'start, edited')).status, 200);
  assert.equal((await edit(m.id, a, 'start, edited twice')).status, 200);
  assert.equal((await react(m.id, a, '🚀')).status, 201);
  assert.equal((await api('POST', `/chat/rooms/${cid}/members/${c.id}`, null, a.token)).status, 201);
  assert.equal((await del(m.id, a)).status, 204);
  assert.equal((await api('DELETE', `/chat/rooms/${cid}/members/${c.id}`, null, a.token)).status, 204);

  const evs = await allEvents(cid, b, cursor, 40);
  assert.equal(evs.length, 156);
  contiguous(evs, cursor + 1);
  assert.deepEqual(evs.slice(150).map(e => e.type),
    ['message_updated', 'message_updated', 'reaction_added', 'member_added', 'message_deleted', 'member_removed']);
  assert.equal(evs.slice(0, 150).filter(e => e.type === 'message').length, 150);
  assert.equal(evs[0].message.content, 'away 0');
  for (const e of [evs[150], evs[151], evs[154]])
    assert.equal(e.message.deleted, true, `${e.type} at ${e.seq} carries the message as it is now: never stale text`);
  assert.deepEqual([evs[152].emoji, evs[152].count, evs[152].user_id], ['🚀', 1, a.id]);
  assert.equal(evs[153].user_id, c.id);
  assert.equal(evs[155].user_id, c.id);
  assert.deepEqual(await allEvents(cid, b, cursor, 500), evs, 'one page or many: the same events');
  const tail = await events(cid, b, `?since_seq=${evs.at(-1).seq}`);
  assert.deepEqual(tail.json, { events: [], next_seq: evs.at(-1).seq, has_more: false });
  const beyond = await events(cid, b, `?since_seq=${evs.at(-1).seq + 1000}`);
  assert.equal(beyond.status, 200);
  assert.deepEqual(beyond.json.events, []);

  for (const q of ['?since_seq=-1', '?since_seq=abc', '?since_seq=1.5', '?since_seq=%2B1', '?since_seq=99999999999999999999',
    '?limit=0', '?limit=501', '?limit=x'])  {
    const r = await events(cid, b, q);
    assert.equal(r.status, 422, `${q}: ${JSON.stringify(r.json)}`);
    assert.equal(r.json.error.code, 'validation_error', q);
  }
  assert.equal((await convOf(b, cid)).unread_count, 151, 'start (a tombstone now) and the 150 sent while b was away; no events counted');
});

test('MESSAGE_EDIT_WINDOW_MINUTES: the edit function refuses a message older than the window', async () => {
  const a = await user(); const b = await user();
  const cid = await direct(a, b);
  const m = await sent(cid, a, 'old news');
  psql(`UPDATE messages SET created_at = now() - interval '11 minutes' WHERE id = '${m.id}'`);
  const call = minutes =>
    psql(`SELECT r_status FROM chat_message_edit('${m.id}', '${a.id}', 'late', ${minutes}, '{}')`);
  assert.equal(call(10), 'expired');
  assert.equal(call(12), 'ok');
  assert.equal(call(0), 'ok', '0: no limit');
  assert.equal(psql(`SELECT content FROM messages WHERE id = '${m.id}'`), 'late');
});
