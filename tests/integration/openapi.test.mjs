// The OpenAPI document: served, valid (checked by a real validator, Redocly
// CLI, with the rules of redocly.yaml), listing every route the router
// serves, and describing the bodies the live API really answers. Then the
// /docs page and its locally served renderer.
//
// Environment: CHAT_BASE_URL (nginx of the test stack), CHAT_API_BIN and
// CHAT_ENV_FILE (to ask the binary for its route table).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const BASE = process.env.CHAT_BASE_URL || 'http://127.0.0.1:18000';
const API = `${BASE}/api/v1`;
const HERE = dirname(fileURLToPath(import.meta.url));
const REDOCLY = join(HERE, 'node_modules', '.bin', 'redocly');
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];
const TAGS = new Set(['auth', 'users', 'conversations', 'messages', 'rooms', 'system']);

let cached;
async function getDoc() {
  if (cached) return cached;
  const r = await fetch(`${API}/openapi.json`);
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type'), /^application\/json/);
  cached = JSON.parse(await r.text());
  return cached;
}

function servedRoutes() {
  const out = execFileSync(process.env.CHAT_API_BIN, ['--env-file', process.env.CHAT_ENV_FILE, 'routes'],
    { encoding: 'utf8' });
  return out.trim().split('\n').map((line) => {
    const [method, path] = line.trim().split(/\s+/);
    return { method: method.toLowerCase(), path, line: line.trim() };
  });
}

function operations(doc) {
  const ops = [];
  for (const [path, item] of Object.entries(doc.paths))
    for (const m of METHODS) if (item[m]) ops.push({ path, method: m, op: item[m] });
  return ops;
}

// Follow a local $ref ("#/components/...").
function deref(doc, node) {
  while (node && node.$ref) {
    assert.match(node.$ref, /^#\//, `only local refs: ${node.$ref}`);
    node = node.$ref.slice(2).split('/')
      .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
      .reduce((n, k) => n[k], doc);
    assert.ok(node, 'dangling $ref');
  }
  return node;
}

// The subset of JSON Schema the document uses: enough to tell whether a
// live body has the documented shape. Returns a list of problems.
function check(doc, schema, value, at = '$') {
  const s = deref(doc, schema);
  const problems = [];
  if (s.allOf) for (const sub of s.allOf) problems.push(...check(doc, sub, value, at));
  if (s.oneOf || s.anyOf) {
    const alts = s.oneOf || s.anyOf;
    if (!alts.some((sub) => check(doc, sub, value, at).length === 0)) problems.push(`${at}: matches no alternative`);
  }
  if ('const' in s && value !== s.const) problems.push(`${at}: ${JSON.stringify(value)} is not ${JSON.stringify(s.const)}`);
  if (s.enum && !s.enum.includes(value)) problems.push(`${at}: ${JSON.stringify(value)} not in ${s.enum.join('|')}`);
  if (s.type) {
    const types = [].concat(s.type);
    const actual = value === null ? 'null' : Array.isArray(value) ? 'array'
      : Number.isInteger(value) ? 'integer' : typeof value;
    const ok = types.includes(actual) || (actual === 'integer' && types.includes('number'));
    if (!ok) { problems.push(`${at}: ${actual} where ${types.join('|')} is documented`); return problems; }
  }
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    for (const k of s.required || []) if (!(k in value)) problems.push(`${at}.${k}: required but missing`);
    for (const [k, sub] of Object.entries(s.properties || {}))
      if (k in value) problems.push(...check(doc, sub, value[k], `${at}.${k}`));
  }
  if (Array.isArray(value) && s.items) value.forEach((v, i) => problems.push(...check(doc, s.items, v, `${at}[${i}]`)));
  if (typeof value === 'string' && s.format === 'uuid' && !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(value))
    problems.push(`${at}: ${value} is not a uuid`);
  if (typeof value === 'string' && s.format === 'date-time' && Number.isNaN(Date.parse(value)))
    problems.push(`${at}: ${value} is not a date-time`);
  return problems;
}

// Call the API and check the answer against what the document says for
// (method, path template, status).
async function conforms(doc, method, template, url, { token, body, status }) {
  const headers = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(API + url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  assert.equal(res.status, status, `${method} ${url}: ${text}`);
  const op = doc.paths[`/api/v1${template}`]?.[method.toLowerCase()];
  assert.ok(op, `${method} /api/v1${template} is not documented`);
  const resp = deref(doc, op.responses[String(status)]);
  assert.ok(resp, `${method} /api/v1${template} does not document status ${status}`);
  assert.ok(res.headers.get('x-request-id'), 'X-Request-ID on every answer');
  if (!text) {
    assert.ok(!resp.content, `${method} ${template} ${status}: documented with a body, answered none`);
    return null;
  }
  const json = JSON.parse(text);
  const schema = resp.content?.['application/json']?.schema;
  assert.ok(schema, `${method} ${template} ${status}: answered JSON, documented none`);
  assert.deepEqual(check(doc, schema, json), [], `${method} ${template} ${status} differs from the document`);
  return json;
}

test('openapi.json is served and is OpenAPI 3.1', async () => {
  const doc = await getDoc();
  assert.equal(doc.openapi, '3.1.0');
  assert.equal(doc.info.title, 'Chat API');
  assert.deepEqual(doc.servers, [{ url: '/' }]);
  assert.ok(doc.components.securitySchemes.bearerAuth, 'bearerAuth scheme');
  assert.equal(doc.components.securitySchemes.bearerAuth.scheme, 'bearer');
  assert.ok(doc['x-websocket'] && doc['x-websocket'].endpoints.length >= 1, 'x-websocket describes the gateway');
});

test('every route of the router is in the document, and nothing else', async () => {
  const doc = await getDoc();
  const routes = servedRoutes();
  assert.ok(routes.length > 30, `chat-api routes printed ${routes.length} routes`);
  const missing = routes.filter((r) => !doc.paths[r.path]?.[r.method]).map((r) => r.line);
  assert.deepEqual(missing, [], `routes missing from openapi.json: ${missing.join(', ')}`);

  // The router ignores one trailing slash, so a documented "/x/" is served as "/x".
  const served = new Set(routes.map((r) => `${r.method} ${r.path}`));
  const extra = operations(doc)
    .filter(({ path, method }) => !served.has(`${method} ${path}`) && !served.has(`${method} ${path.replace(/(.)\/$/, '$1')}`))
    .map(({ path, method }) => `${method.toUpperCase()} ${path}`);
  assert.deepEqual(extra, [], `documented but not served: ${extra.join(', ')}`);
});

test('the seed\'s /conversations/ is documented exactly like /conversations', async () => {
  const doc = await getDoc();
  const a = doc.paths['/api/v1/conversations']?.get;
  const b = doc.paths['/api/v1/conversations/']?.get;
  assert.ok(a && b, 'both spellings are documented');
  const strip = ({ operationId, summary, ...rest }) => rest;
  assert.deepEqual(strip(b), strip(a));
});

test('every operation has an id, a summary, one tag, and its error answers', async () => {
  const doc = await getDoc();
  const ids = new Set();
  for (const { path, method, op } of operations(doc)) {
    const name = `${method.toUpperCase()} ${path}`;
    assert.ok(op.operationId && !ids.has(op.operationId), `${name}: unique operationId`);
    ids.add(op.operationId);
    assert.ok(op.summary, `${name}: summary`);
    assert.equal(op.tags?.length, 1, `${name}: one tag`);
    assert.ok(TAGS.has(op.tags[0]), `${name}: tag ${op.tags[0]}`);
    const authed = (op.security ?? doc.security ?? []).some((s) => 'bearerAuth' in s);
    if (authed) {
      for (const s of ['401', '429', '503']) assert.ok(op.responses[s], `${name}: documents ${s}`);
      const r429 = deref(doc, op.responses['429']);
      assert.ok(r429.headers?.['Retry-After'], `${name}: 429 has Retry-After`);
      const ok = Object.entries(op.responses).find(([s]) => s.startsWith('2'))[1];
      assert.ok(deref(doc, ok).headers?.['X-RateLimit-Remaining'], `${name}: success documents X-RateLimit-*`);
    }
    if (op.requestBody && deref(doc, op.requestBody).content?.['application/json'])
      for (const s of ['400', '413', '415', '422']) assert.ok(op.responses[s], `${name}: JSON body, documents ${s}`);
    if (op.tags[0] !== 'system')
      assert.ok(Object.keys(op.responses).some((s) => s.startsWith('4')), `${name}: documents a 4XX`);
  }
});

test('the document passes redocly lint (recommended rules, redocly.yaml)', async (t) => {
  assert.ok(existsSync(REDOCLY), `${REDOCLY} is missing: run npm ci in tests/integration`);
  const doc = await getDoc();
  const dir = mkdtempSync(join(tmpdir(), 'openapi-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'openapi.json');
  writeFileSync(file, JSON.stringify(doc, null, 1));
  const r = spawnSync(REDOCLY, ['lint', file, '--format=stylish', '--config', join(HERE, 'redocly.yaml')],
    { encoding: 'utf8', cwd: dir, env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' } });
  assert.equal(r.status, 0, `redocly lint failed:\n${r.stdout}${r.stderr}`);
});

test('live answers have the documented shapes', async () => {
  const doc = await getDoc();
  const name = () => `oa${randomUUID().replace(/-/g, '').slice(0, 12)}`;
  const reg = async () => {
    const n = name();
    return conforms(doc, 'POST', '/auth/register', '/auth/register',
      { body: { username: n, email: `${n}@example.com`, password: 'password123' }, status: 201 });
  };
  const a = await reg();
  const b = await reg();
  const ta = a.access_token;
  const tb = b.access_token;

  await conforms(doc, 'GET', '/health', '/health', { status: 200 });
  await conforms(doc, 'POST', '/auth/login', '/auth/login',
    { body: { username: a.user.username, password: 'password123' }, status: 200 });
  await conforms(doc, 'GET', '/users/me', '/users/me', { token: ta, status: 200 });
  await conforms(doc, 'PUT', '/users/me', '/users/me', { token: ta, body: { display_name: 'Ann' }, status: 200 });
  await conforms(doc, 'GET', '/users/{user_id}', `/users/${b.user.id}`, { token: ta, status: 200 });
  await conforms(doc, 'GET', '/users/me', '/users/me', { status: 401 });
  await conforms(doc, 'GET', '/users/{user_id}', `/users/${randomUUID()}`, { token: ta, status: 404 });

  const conv = await conforms(doc, 'POST', '/conversations/direct', '/conversations/direct',
    { token: ta, body: { other_user_id: b.user.id }, status: 201 });
  await conforms(doc, 'GET', '/conversations/direct', `/conversations/direct?other_user_id=${a.user.id}`,
    { token: tb, status: 200 });
  const group = await conforms(doc, 'POST', '/conversations/group', '/conversations/group',
    { token: ta, body: { type: 'group', name: 'g', participant_ids: [b.user.id] }, status: 201 });
  assert.equal(group.type, 'group');
  await conforms(doc, 'POST', '/conversations/group', '/conversations/group',
    { token: ta, body: { type: 'group', name: '', participant_ids: [] }, status: 422 });

  const cid = conv.id;
  const msg = await conforms(doc, 'POST', '/conversations/{conversation_id}/messages', `/conversations/${cid}/messages`,
    { token: ta, body: { content: 'hello', client_message_id: `c-${randomUUID()}` }, status: 201 });
  await conforms(doc, 'GET', '/conversations/{conversation_id}/messages', `/conversations/${cid}/messages?limit=10&use_cache=true`,
    { token: tb, status: 200 });
  await conforms(doc, 'GET', '/conversations/{conversation_id}', `/conversations/${cid}`, { token: tb, status: 200 });
  await conforms(doc, 'GET', '/conversations', '/conversations', { token: ta, status: 200 });
  await conforms(doc, 'GET', '/conversations/', '/conversations/', { token: ta, status: 200 });
  await conforms(doc, 'POST', '/conversations/messages/{message_id}/read', `/conversations/messages/${msg.id}/read`,
    { token: tb, status: 200 });
  await conforms(doc, 'GET', '/conversations/messages/{message_id}/read-receipts', `/conversations/messages/${msg.id}/read-receipts`,
    { token: ta, status: 200 });
  await conforms(doc, 'POST', '/conversations/{conversation_id}/read', `/conversations/${cid}/read`, { token: tb, status: 200 });
  await conforms(doc, 'POST', '/conversations/{conversation_id}/typing', `/conversations/${cid}/typing`,
    { token: ta, body: { is_typing: true }, status: 200 });
  await conforms(doc, 'GET', '/conversations/{conversation_id}/typing', `/conversations/${cid}/typing`, { token: tb, status: 200 });
  await conforms(doc, 'GET', '/conversations/online', '/conversations/online', { token: ta, status: 200 });
  // last_message and read_status once the other side has read.
  const again = await conforms(doc, 'GET', '/conversations/{conversation_id}', `/conversations/${cid}`, { token: ta, status: 200 });
  assert.equal(again.last_message.read_status, 'read');

  // What happens to a message after it is sent, and the event log.
  const reply = await conforms(doc, 'POST', '/conversations/{conversation_id}/messages', `/conversations/${cid}/messages`,
    { token: tb, body: { content: `@${a.user.username} yes`, reply_to_id: msg.id }, status: 201 });
  assert.equal(reply.reply_to.id, msg.id);
  assert.deepEqual(reply.mentions, [a.user.id]);
  await conforms(doc, 'POST', '/conversations/{conversation_id}/messages', `/conversations/${cid}/messages`,
    { token: tb, body: { content: 'x', reply_to_id: randomUUID() }, status: 422 });
  const mpath = `/conversations/messages/${msg.id}`;
  const edited = await conforms(doc, 'PATCH', '/conversations/messages/{message_id}', mpath,
    { token: ta, body: { content: 'hello, edited' }, status: 200 });
  assert.ok(edited.edited_at);
  await conforms(doc, 'PATCH', '/conversations/messages/{message_id}', mpath, { token: tb, body: { content: 'no' }, status: 403 });
  await conforms(doc, 'PATCH', '/conversations/messages/{message_id}', `/conversations/messages/${randomUUID()}`,
    { token: ta, body: { content: 'no' }, status: 404 });
  await conforms(doc, 'POST', '/conversations/messages/{message_id}/reactions', `${mpath}/reactions`,
    { token: tb, body: { emoji: '👍' }, status: 201 });
  await conforms(doc, 'POST', '/conversations/messages/{message_id}/reactions', `${mpath}/reactions`,
    { token: tb, body: { emoji: '👍' }, status: 200 });
  await conforms(doc, 'POST', '/conversations/messages/{message_id}/reactions', `${mpath}/reactions`,
    { token: tb, body: { emoji: 'not one' }, status: 422 });
  await conforms(doc, 'GET', '/conversations/{conversation_id}/messages', `/conversations/${cid}/messages?use_cache=true`,
    { token: ta, status: 200 });
  await conforms(doc, 'GET', '/conversations', '/conversations', { token: ta, status: 200 });
  await conforms(doc, 'DELETE', '/conversations/messages/{message_id}/reactions/{emoji}', `${mpath}/reactions/${encodeURIComponent('👍')}`,
    { token: tb, status: 204 });
  await conforms(doc, 'DELETE', '/conversations/messages/{message_id}', mpath, { token: tb, status: 403 });
  await conforms(doc, 'DELETE', '/conversations/messages/{message_id}', mpath, { token: ta, status: 204 });
  await conforms(doc, 'PATCH', '/conversations/messages/{message_id}', mpath, { token: ta, body: { content: 'late' }, status: 409 });
  const evs = await conforms(doc, 'GET', '/conversations/{conversation_id}/events', `/conversations/${cid}/events?since_seq=0&limit=500`,
    { token: tb, status: 200 });
  assert.deepEqual(evs.events.map((e) => e.type).slice(-5),
    ['message', 'message_updated', 'reaction_added', 'reaction_removed', 'message_deleted']);
  await conforms(doc, 'GET', '/conversations/{conversation_id}/events', `/conversations/${cid}/events?since_seq=-1`,
    { token: tb, status: 422 });
  await conforms(doc, 'GET', '/conversations/{conversation_id}/events', `/conversations/${randomUUID()}/events`,
    { token: tb, status: 404 });

  const room = await conforms(doc, 'POST', '/chat/rooms', '/chat/rooms',
    { token: ta, body: { name: 'r', description: 'd' }, status: 201 });
  await conforms(doc, 'POST', '/chat/rooms/{room_id}/members/{user_id}', `/chat/rooms/${room.id}/members/${b.user.id}`,
    { token: ta, status: 201 });
  await conforms(doc, 'PUT', '/chat/rooms/{room_id}', `/chat/rooms/${room.id}`, { token: tb, body: { name: 'x' }, status: 403 });
  await conforms(doc, 'POST', '/chat/messages', '/chat/messages', { token: tb, body: { room_id: room.id, content: 'hi' }, status: 201 });
  await conforms(doc, 'GET', '/chat/rooms/{room_id}/messages', `/chat/rooms/${room.id}/messages`, { token: ta, status: 200 });
  await conforms(doc, 'GET', '/chat/rooms', '/chat/rooms', { token: tb, status: 200 });
  await conforms(doc, 'DELETE', '/chat/rooms/{room_id}/members/{user_id}', `/chat/rooms/${room.id}/members/${b.user.id}`,
    { token: tb, status: 204 });
  await conforms(doc, 'GET', '/chat/rooms/{room_id}', `/chat/rooms/${room.id}`, { token: tb, status: 404 });

  await conforms(doc, 'POST', '/auth/logout', '/auth/logout', { body: { refresh_token: b.refresh_token }, status: 204 });
  await conforms(doc, 'DELETE', '/users/me', '/users/me', { token: tb, status: 204 });
});

test('/docs renders the document with a locally served renderer', async () => {
  const page = await fetch(`${BASE}/docs`);
  assert.equal(page.status, 200);
  assert.match(page.headers.get('content-type'), /^text\/html/);
  const html = await page.text();
  assert.match(html, /spec-url="\/api\/v1\/openapi\.json"/);
  assert.match(html, /<script src="\/docs\/redoc\.standalone\.js"><\/script>/);
  assert.doesNotMatch(html, /https?:\/\//, 'no CDN: every resource comes from this server');

  const js = await fetch(`${BASE}/docs/redoc.standalone.js`);
  assert.equal(js.status, 200, 'renderer installed (scripts/docs-assets.sh DOCS_ASSETS_DIR)');
  assert.match(js.headers.get('content-type'), /^application\/javascript/);
  assert.ok((await js.arrayBuffer()).byteLength > 100000, 'the whole Redoc bundle');
});

// GET path exactly as given: fetch() would resolve /docs/%2e%2e to / (the demo client's page).
function rawGet(path) {
  return new Promise((resolve, reject) => {
    http.get(`${BASE}${path}`, { path }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode, json: () => JSON.parse(body) }));
    }).on('error', reject);
  });
}

test('/docs serves only its whitelisted assets', async () => {
  for (const asset of ['passwd', 'redoc.standalone.js.map', 'redoc.version', '%2e%2e', 'chat.env']) {
    const r = await rawGet(`/docs/${asset}`);
    assert.equal(r.status, 404, asset);
    assert.equal(r.json().error.code, 'not_found', asset);
  }
  // Traversal never reaches a file: nginx refuses it (400) or no route matches (404).
  for (const path of ['..%2Fchat.env', '..%2F..%2F..%2Fetc%2Fpasswd', 'redoc.standalone.js%2F..%2F..%2Fchat.env']) {
    const r = await fetch(`${BASE}/docs/${path}`);
    assert.ok([400, 404].includes(r.status), `${path}: ${r.status}`);
  }
});
