// The AsyncAPI document of the WebSocket protocol (fcgi-api/asyncapi.json):
// served by chat-api as it is in the repository, valid for @asyncapi/parser,
// naming every event type the gateway's sources can send, every client frame
// type it accepts, every close code and handshake refusal, and describing the
// frames real sockets receive through the stack (their payload schemas, with
// ajv, the validator the parser itself uses).
//
// Environment: CHAT_BASE_URL, CHAT_WS_URL (nginx of the stack).
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Parser } from '@asyncapi/parser';
import Ajv from 'ajv';
import addFormats from 'ajv-formats';
import { client, convUrl } from './wsclient.mjs';
import { api, user, direct, send } from './helpers.mjs';

const BASE = process.env.CHAT_BASE_URL || 'http://127.0.0.1:18000';
const WS = process.env.CHAT_WS_URL || 'ws://127.0.0.1:18000';
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const REPO_DOC = readFileSync(join(ROOT, 'fcgi-api', 'asyncapi.json'), 'utf8');

let served; // the document's text as chat-api serves it
let parsed; // @asyncapi/parser's AsyncAPIDocument of it
let diagnostics;

before(async () => {
  const r = await fetch(`${BASE}/api/v1/asyncapi.json`);
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type'), /^application\/json/);
  served = await r.text();
  ({ document: parsed, diagnostics } = await new Parser().parse(served));
});

test('/docs links to the document', async () => {
  const r = await fetch(`${BASE}/docs`);
  assert.equal(r.status, 200);
  assert.match(await r.text(), /<a href="\/api\/v1\/asyncapi\.json">/);
});

// ---- what the C sources say ----

// C source without its comments (they quote frames too: {"type":"auth"} in a
// comment is no frame the gateway sends). String and character literals are
// kept whole, so a "/*" inside one is not taken for a comment.
function stripComments(src) {
  let out = '';
  for (let i = 0; i < src.length;) {
    const c = src[i];
    if (c === '"' || c === "'") {
      let j = i + 1;
      while (j < src.length && src[j] !== c) j += src[j] === '\\' ? 2 : 1;
      out += src.slice(i, j + 1);
      i = j + 1;
    } else if (src.startsWith('/*', i)) {
      const end = src.indexOf('*/', i + 2);
      assert.notEqual(end, -1, 'unterminated comment');
      out += ' ';
      i = end + 2;
    } else if (src.startsWith('//', i)) {
      const end = src.indexOf('\n', i);
      i = end === -1 ? src.length : end;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

function sources(dir, only) {
  const names = only ?? readdirSync(join(ROOT, dir)).filter(n => n.endsWith('.c')).sort();
  assert.ok(names.length > 0, `no C sources in ${dir}`);
  return names.map(n => ({ name: `${dir}/${n}`, text: stripComments(readFileSync(join(ROOT, dir, n), 'utf8')) }));
}

// The string literals in text from the "(" at open to its matching ")".
function literalsInCall(text, open) {
  const out = [];
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      out.push(text.slice(i + 1, j));
      i = j;
    } else if (c === '(') depth++;
    else if (c === ')' && --depth === 0) return out;
  }
  throw new Error('unbalanced call');
}

// Every value of a "type" field the files build, as {type, where}:
//   json_pack("{s:s, ...}", "type", "x", ...)       a "type", "x" pair
//   "...\"type\":\"x\"..."                           JSON written as C text
//   json_object_set_new(o, "type", json_string("x"))
//   json_object_set_new(o, "type", json_string(p)) inside f(..., const char *p):
//     every string literal passed in f's calls (f(m, c ? "a" : "b"))
function typeValues(files) {
  const found = [];
  const add = (type, where) => found.push({ type, where });
  for (const { name, text } of files) {
    for (const m of text.matchAll(/"type"\s*,\s*"([A-Za-z0-9_]+)"/g)) add(m[1], name);
    for (const m of text.matchAll(/\\"type\\"\s*:\s*\\"([A-Za-z0-9_]+)\\"/g)) add(m[1], name);
    for (const m of text.matchAll(/"type"\s*,\s*json_string\s*\(\s*"([A-Za-z0-9_]+)"\s*\)/g)) add(m[1], name);
    for (const m of text.matchAll(/"type"\s*,\s*json_string\s*\(\s*([A-Za-z_]\w*)\s*\)/g)) {
      // the function around it, and the parameter's position in it
      const head = [...text.slice(0, m.index).matchAll(/\b([A-Za-z_]\w*)\s*\(([^()]*)\)\s*\{/g)]
        .filter(h => !['if', 'for', 'while', 'switch'].includes(h[1])).pop();
      assert.ok(head, `${name}: "type" from ${m[1]} outside any function`);
      const [, fn, params] = head;
      assert.ok(params.split(',').some(p => new RegExp(`\\b${m[1]}\\s*$`).test(p.trim())),
        `${name}: "type" from ${m[1]}, which is no parameter of ${fn}(): extend this test`);
      let calls = 0;
      for (const f of files)
        for (const c of f.text.matchAll(new RegExp(`\\b${fn}\\s*\\(`, 'g'))) {
          if (c.index === head.index) continue; // the definition itself
          const lits = literalsInCall(f.text, c.index + c[0].length - 1);
          calls++;
          for (const l of lits) add(l, `${f.name} (${fn})`);
        }
      assert.ok(calls > 0, `${name}: no call of ${fn}() to take its "type" from`);
    }
  }
  return found;
}

const GATEWAY = sources('ws-gateway');
const EVENTS = sources('common', ['events.c']);

// The client frame types frame.c accepts: its {"name", FRAME_X} table.
function clientFrameTypes() {
  const [frame] = sources('ws-gateway', ['frame.c']);
  const types = [...frame.text.matchAll(/\{\s*"([A-Za-z0-9_]+)"\s*,\s*FRAME_[A-Z_]+\s*\}/g)].map(m => m[1]);
  assert.ok(types.length >= 5, `frame.c: found only ${JSON.stringify(types)} in its frame table`);
  return new Set(types);
}

// ---- what the document says ----

// The `type` const of each message of the operations with action (send:
// gateway to client, receive: client to gateway), with its payload schema.
function documentTypes(action) {
  const out = new Map();
  const ops = parsed.operations().all().filter(op => op.action() === action);
  assert.ok(ops.length > 0, `no ${action} operation`);
  for (const op of ops)
    for (const m of op.messages().all()) {
      const schema = m.payload().json();
      const t = typeConst(schema);
      assert.ok(t, `message ${m.id()} has no type const`);
      assert.equal(m.name(), t, `message ${m.id()}: its name is its type`);
      if (!out.has(t)) out.set(t, []);
      out.get(t).push({ id: m.id(), schema });
    }
  return out;
}

function typeConst(schema) {
  if (schema.properties?.type?.const) return schema.properties.type.const;
  for (const s of schema.allOf ?? []) {
    const t = typeConst(s);
    if (t) return t;
  }
  return undefined;
}

test('the served document is the repository file, an AsyncAPI 3.0.0 document without errors', () => {
  assert.equal(served, REPO_DOC, 'chat-api serves fcgi-api/asyncapi.json as built (rebuild after editing it)');
  const severity = ['error', 'warning', 'info', 'hint'];
  for (const d of diagnostics)
    if (d.severity !== 0) console.log(`asyncapi ${severity[d.severity]}: ${d.code}: ${d.message} at ${d.path.join('.') || '(root)'}`);
  const errors = diagnostics.filter(d => d.severity === 0);
  assert.deepEqual(errors.map(d => `${d.code}: ${d.message} at ${d.path.join('.')}`), []);
  assert.ok(parsed, 'parsed');
  assert.equal(parsed.version(), '3.0.0');
  const servers = parsed.servers().all();
  assert.ok(servers.length > 0 && servers.every(s => s.protocol() === 'ws'));
  const addresses = parsed.channels().all().map(c => c.address()).sort();
  assert.deepEqual(addresses, ['/api/v1/ws/', '/api/v1/ws/conversations/{conversation_id}']);
});

test('every event type the gateway can send is a message the gateway sends in the document', () => {
  const found = typeValues(GATEWAY);
  assert.ok(found.length >= 9, `found too few "type" values in ws-gateway/*.c: ${JSON.stringify(found)}`);
  const sent = documentTypes('send');
  const missing = found.filter(f => !sent.has(f.type));
  assert.deepEqual(missing, [], 'gateway frames the document does not describe');
  // the ones this test must find, whatever the extraction: it fails loudly if it goes blind
  for (const t of ['message', 'offline_message', 'ack', 'typing_indicator', 'presence', 'pong', 'error', 'auth_ok'])
    assert.ok(found.some(f => f.type === t), `extraction did not find "${t}" in ws-gateway/*.c`);
  // every channel carries every event
  for (const ch of parsed.channels().all()) {
    const onChannel = new Set(ch.messages().all().map(m => typeConst(m.payload().json())));
    for (const t of sent.keys()) assert.ok(onChannel.has(t), `${ch.id()}: no ${t}`);
  }
});

test('every event of the streams (common/events.c) is in the document', () => {
  const found = typeValues(EVENTS);
  assert.ok(found.length >= 3, `found too few "type" values in common/events.c: ${JSON.stringify(found)}`);
  // Relayed as they are (message, read) or turned into an event of their own
  // (typing: typing_indicator, asserted above); either way the name is a
  // message of the document.
  const all = new Set([...documentTypes('send').keys(), ...documentTypes('receive').keys()]);
  assert.deepEqual(found.filter(f => !all.has(f.type)), []);
  const sent = documentTypes('send');
  for (const t of ['message', 'read']) assert.ok(sent.has(t), `stream event ${t} is relayed to clients`);
});

test('every client frame type frame.c accepts is a message the gateway receives, on both channels', () => {
  const accepted = clientFrameTypes();
  const received = documentTypes('receive');
  assert.deepEqual([...accepted].filter(t => !received.has(t)), []);
  assert.deepEqual([...received.keys()].filter(t => !accepted.has(t)), [], 'the document names frames the gateway does not accept');
  for (const ch of parsed.channels().all()) {
    const onChannel = new Set(ch.messages().all().map(m => typeConst(m.payload().json())));
    for (const t of accepted) assert.ok(onChannel.has(t), `${ch.id()}: no ${t}`);
  }
});

test('every error code, close code and handshake refusal of the gateway is documented', () => {
  const doc = JSON.parse(served);
  const codes = new Set(doc.components.schemas.ErrorEvent.properties.code.enum);
  const errorCodes = new Set();
  for (const { text } of GATEWAY)
    for (const m of text.matchAll(/conn_send_error\s*\(\s*[\w>.-]+\s*,\s*"([a-z_]+)"/g)) errorCodes.add(m[1]);
  for (const { text } of [...sources('ws-gateway', ['frame.c']), ...sources('common', ['send.c'])]) {
    for (const m of text.matchAll(/->code\s*=\s*"([a-z_]+)"/g)) errorCodes.add(m[1]);
    for (const m of text.matchAll(/refuse\s*\(\s*err\s*,\s*\d+\s*,\s*"([a-z_]+)"/g)) errorCodes.add(m[1]);
  }
  assert.ok(errorCodes.size >= 5, `found too few error codes: ${[...errorCodes]}`);
  assert.deepEqual([...errorCodes].filter(c => !codes.has(c)), []);

  const LWS = { LWS_CLOSE_STATUS_GOINGAWAY: 1001, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE: 1009,
    LWS_CLOSE_STATUS_UNEXPECTED_CONDITION: 1011, LWS_CLOSE_STATUS_POLICY_VIOLATION: 1008 };
  const closes = new Set();
  for (const { name, text } of GATEWAY)
    for (const m of text.matchAll(/(?:conn_close(?:_all)?\s*\(\s*(?:[\w>.-]+\s*,\s*)?|lws_close_reason\s*\(\s*[\w>.-]+\s*,\s*)(\d{4}|LWS_CLOSE_STATUS_\w+)/g)) {
      const code = /^\d+$/.test(m[1]) ? Number(m[1]) : LWS[m[1]];
      assert.ok(code, `${name}: close code ${m[1]} unknown to this test`);
      closes.add(String(code));
    }
  assert.ok(closes.size >= 6, `found too few close codes: ${[...closes]}`);
  for (const c of ['1001', '1008', '1009', '1011', '1013', '4401', '4403', '4429']) assert.ok(closes.has(c), `extraction missed ${c}`);
  assert.deepEqual([...closes].filter(c => !(c in doc['x-close-codes'])), []);

  const HTTP = { HTTP_STATUS_SERVICE_UNAVAILABLE: 503, HTTP_STATUS_NOT_FOUND: 404, HTTP_STATUS_FORBIDDEN: 403, HTTP_STATUS_UNAUTHORIZED: 401 };
  const [session] = sources('ws-gateway', ['session.c']);
  const refusals = [...session.text.matchAll(/refuse\s*\(\s*wsi\s*,\s*(\d{3}|HTTP_STATUS_\w+)/g)]
    .map(m => String(/^\d+$/.test(m[1]) ? Number(m[1]) : HTTP[m[1]] ?? m[1]));
  assert.deepEqual([...new Set(refusals)].sort(), ['401', '403', '404', '429', '503']);
  for (const s of refusals) assert.ok(s in doc['x-handshake-refusals'], `refusal ${s}`);
  for (const s of [...refusals, ...closes]) assert.match(doc.info.description, new RegExp(`\\| ${s} \\|`), `${s} in the description's tables`);
});

// ---- real frames against their schemas ----

function validators() {
  const ajv = new Ajv({ strict: false, allErrors: true });
  addFormats(ajv);
  const byType = new Map();
  for (const [t, ms] of documentTypes('send')) byType.set(t, ajv.compile(ms[0].schema));
  return byType;
}

function checkFrame(byType, frame, seen) {
  const v = byType.get(frame.type);
  assert.ok(v, `a frame of undocumented type: ${JSON.stringify(frame)}`);
  assert.ok(v(frame), `${frame.type} does not match its schema: ${JSON.stringify(v.errors)} in ${JSON.stringify(frame)}`);
  seen.add(frame.type);
}

// c.next(pred), failing with what was awaited.
const want = (c, what, pred) => c.next(pred).catch((e) => { throw new Error(`waiting for ${what}: ${e.message}`); });

test('frames received through the stack validate against their payload schemas', async () => {
  const byType = validators();
  const seen = new Set();
  const a = await user(); const b = await user();
  const cid = await direct(a, b);
  assert.equal((await send(cid, b, 'while a was away')).status, 201);

  // a: a conversation socket, token in the query
  const ca = client(convUrl(WS, cid, a.token));
  await ca.opened;
  await want(ca, 'offline_message while a was away', e => e.type === 'offline_message' && e.content === 'while a was away');
  ca.send({ type: 'ping' });
  await want(ca, 'pong', e => e.type === 'pong');
  ca.send({ type: 'message', content: 'with an id', client_message_id: 'asyncapi-1' });
  const ack = await want(ca, 'ack asyncapi-1', e => e.type === 'ack' && e.client_message_id === 'asyncapi-1');
  ca.send({ type: 'message', content: 'without an id' });
  await want(ca, 'ack', e => e.type === 'ack' && e.client_message_id === null);
  ca.send({ type: 'auth', token: a.token });
  await want(ca, 'auth_ok', e => e.type === 'auth_ok');
  ca.send({ type: 'no_such_frame' });
  await want(ca, 'error unknown_type', e => e.type === 'error' && e.code === 'unknown_type');
  ca.send('not json');
  await want(ca, 'error invalid_json', e => e.type === 'error' && e.code === 'invalid_json');

  // b: the all-conversations socket, token offered as a subprotocol (the web tier's way)
  const cb = client(`${WS}/api/v1/ws/`, ['chat', b.token]);
  await cb.opened;
  assert.equal(cb.ws.protocol, 'chat');
  await want(ca, 'presence', e => e.type === 'presence' && e.user_id === b.id && e.online === true);
  await want(cb, 'offline_message with an id', e => e.type === 'offline_message' && e.content === 'with an id');
  cb.send({ type: 'typing', is_typing: true, conversation_id: cid });
  await want(ca, 'typing_indicator', e => e.type === 'typing_indicator' && e.typing_users.includes(b.id));
  cb.send({ type: 'read', conversation_id: cid, message_id: ack.id });
  await want(ca, 'read', e => e.type === 'read' && e.user_id === b.id && e.message_id === ack.id);
  cb.send({ type: 'read', conversation_id: cid }); // everything: up to seq 3 ('without an id')
  await want(ca, 'read of everything', e => e.type === 'read' && e.user_id === b.id && e.seq === 3);
  ca.send({ type: 'message', content: 'live' });
  await want(cb, 'message live', e => e.type === 'message' && e.content === 'live');
  cb.send({ type: 'typing', is_typing: true }); // no conversation_id on this socket
  await want(cb, 'error validation_error', e => e.type === 'error' && e.code === 'validation_error');
  await cb.close();
  await want(ca, 'presence (online: false)', e => e.type === 'presence' && e.user_id === b.id && e.online === false);

  // c: no token in the handshake, an auth frame first
  const c = client(convUrl(WS, cid, '').replace(/\?token=$/, ''));
  await c.opened;
  c.send({ type: 'auth', token: a.token });
  c.send({ type: 'ping' }); // waits for the authorisation, then is answered
  await want(c, 'pong', e => e.type === 'pong');

  // changes of a message: the frames' answers and the events, on a's conversation socket
  ca.send({ type: 'edit', message_id: ack.id, content: 'with an id, edited' });
  await want(ca, 'message_updated', e => e.type === 'message_updated' && e.message_id === ack.id);
  ca.send({ type: 'react', message_id: ack.id, emoji: '👍' });
  await want(ca, 'reaction_added', e => e.type === 'reaction_added' && e.message_id === ack.id);
  ca.send({ type: 'react', message_id: ack.id, emoji: '👍', on: false });
  await want(ca, 'reaction_removed', e => e.type === 'reaction_removed' && e.message_id === ack.id);
  ca.send({ type: 'delete', message_id: ack.id });
  await want(ca, 'message_deleted', e => e.type === 'message_deleted' && e.message_id === ack.id);
  await want(ca, 'changed', e => e.type === 'changed' && e.message_id === ack.id);
  ca.send({ type: 'edit', message_id: ack.id, content: 'too late' });
  await want(ca, 'error message_deleted', e => e.type === 'error' && e.code === 'message_deleted');

  // member changes, on a's all-conversations socket
  const r = client(`${WS}/api/v1/ws`, { headers: { authorization: `Bearer ${a.token}` } });
  await r.opened;
  const room = (await api('POST', '/chat/rooms', { name: 'asyncapi', member_ids: [] }, a.token)).json;
  await new Promise(res => setTimeout(res, 300)); // the socket subscribes to the new room
  assert.equal((await api('POST', `/chat/rooms/${room.id}/members/${b.id}`, {}, a.token)).status, 201);
  await want(r, 'member_added', e => e.type === 'member_added' && e.user_id === b.id);
  assert.equal((await api('DELETE', `/chat/rooms/${room.id}/members/${b.id}`, null, a.token)).status, 204);
  await want(r, 'member_removed', e => e.type === 'member_removed' && e.user_id === b.id);

  for (const e of [...ca.events, ...cb.events, ...c.events, ...r.events]) checkFrame(byType, e, seen);
  await Promise.all([ca.close(), c.close(), r.close()]);
  const expected = [...documentTypes('send').keys()].sort();
  assert.deepEqual([...seen].sort(), expected, 'every documented event was seen and validated');
});

test('as documented, a resume point delivers message events and a plain connect offline_message', async () => {
  const byType = validators();
  const a = await user(); const b = await user();
  const cid = await direct(a, b);
  for (let i = 1; i <= 3; i++) assert.equal((await send(cid, a, `r${i}`)).status, 201);
  const resumed = client(convUrl(WS, cid, b.token, '&since_seq=1'));
  await want(resumed, 'r3', e => e.content === 'r3');
  const plain = client(`${WS}/api/v1/ws`, { headers: { authorization: `Bearer ${b.token}` } });
  await want(plain, 'r3', e => e.content === 'r3');
  const seen = new Set();
  const msgs = s => s.events.filter(e => e.content?.startsWith('r'));
  assert.deepEqual(msgs(resumed).map(e => [e.type, e.seq]), [['message', 2], ['message', 3]]);
  assert.deepEqual(msgs(plain).map(e => [e.type, e.seq]), [['offline_message', 1], ['offline_message', 2], ['offline_message', 3]]);
  for (const e of [...resumed.events, ...plain.events]) checkFrame(byType, e, seen);
  await Promise.all([resumed.close(), plain.close()]);
});
