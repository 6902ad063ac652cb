// The OpenAPI document: served, valid (checked by a real validator), and
// listing every route the router serves; the /docs page and its renderer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const BASE = process.env.CHAT_BASE_URL || 'http://127.0.0.1:18000';
const HERE = dirname(fileURLToPath(import.meta.url));

async function getDoc() {
  const r = await fetch(`${BASE}/api/v1/openapi.json`);
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type'), /^application\/json/);
  return r.json();
}

test('openapi.json is served and is OpenAPI 3.1', async () => {
  const doc = await getDoc();
  assert.equal(doc.openapi, '3.1.0');
  assert.equal(doc.info.title, 'Chat API');
});

test('every route of the router is in the document', async () => {
  const doc = await getDoc();
  const out = execFileSync(process.env.CHAT_API_BIN, ['--env-file', process.env.CHAT_ENV_FILE, 'routes'], { encoding: 'utf8' });
  const routes = out.trim().split('\n').map(l => l.split(' '));
  assert.ok(routes.length > 30);
  const missing = routes.filter(([m, p]) => !(doc.paths[p] && doc.paths[p][m.toLowerCase()]));
  assert.deepEqual(missing, [], `routes missing from openapi.json: ${missing.map(r => r.join(' ')).join(', ')}`);
  // And nothing documented that is not served.
  const served = new Set(routes.map(([m, p]) => `${m.toLowerCase()} ${p}`));
  const extra = [];
  for (const [p, ops] of Object.entries(doc.paths))
    for (const m of Object.keys(ops)) if (!served.has(`${m} ${p}`)) extra.push(`${m} ${p}`);
  assert.deepEqual(extra, []);
});

test('the document passes redocly lint (recommended rules)', async () => {
  const doc = await getDoc();
  const dir = mkdtempSync(join(tmpdir(), 'openapi-'));
  const file = join(dir, 'openapi.json');
  writeFileSync(file, JSON.stringify(doc));
  const r = spawnSync(join(HERE, 'node_modules/.bin/redocly'), ['lint', file, '--format=stylish'], { encoding: 'utf8', cwd: dir });
  assert.equal(r.status, 0, r.stdout + r.stderr);
});

test('/docs renders the document with a locally served renderer', async () => {
  const page = await fetch(`${BASE}/docs`);
  assert.equal(page.status, 200);
  assert.match(page.headers.get('content-type'), /^text\/html/);
  const html = await page.text();
  assert.match(html, /\/api\/v1\/openapi\.json/);
  assert.match(html, /src="\/docs\/redoc\.standalone\.js"/);
  assert.doesNotMatch(html, /https?:\/\//, 'no CDN');
  const js = await fetch(`${BASE}/docs/redoc.standalone.js`);
  assert.equal(js.status, 200);
  assert.match(js.headers.get('content-type'), /javascript/);
  assert.ok((await js.arrayBuffer()).byteLength > 100000);
  const other = await fetch(`${BASE}/docs/passwd`);
  assert.equal(other.status, 404);
  assert.equal((await other.json()).error.code, 'not_found');
});
