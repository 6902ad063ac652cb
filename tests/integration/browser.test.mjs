// The seed README's browser snippet, run in Debian's headless Chromium
// (driven by playwright-core) against the stack: a page of our origin opens
// the WebSocket exactly as the snippet does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { chromium } from 'playwright-core';
import WebSocket from 'ws';
import { BASE, api, user, direct, sleep } from './helpers.mjs';

const PORT = new URL(BASE).port;
const ORIGIN = `http://localhost:${PORT}`; // in CORS_ORIGINS, like localhost:8000 for `make run`

// The snippet, copied verbatim from the seed README ("WebSocket" section)
// into fixtures/, split at its comments.
function snippet() {
  const code = readFileSync(new URL('./fixtures/seed-browser-snippet.js', import.meta.url), 'utf8');
  const [open, send, typing] = code.split(/\n\/\/ (?:Send message|Typing)\n/);
  return { open, send, typing };
}

test("the seed README's browser snippet works in headless Chromium", { timeout: 60000 }, async () => {
  const me = await user(); const other = await user();
  const cid = await direct(me, other);
  const s = snippet();
  const open = s.open
    .replace('"YOUR_ACCESS_TOKEN"', JSON.stringify(me.token))
    .replace('"CONVERSATION_UUID"', JSON.stringify(cid))
    .replace('ws://localhost:8000', `ws://localhost:${PORT}`);
  assert.ok(open.includes('new WebSocket(`ws://localhost:'), 'the snippet is the seed\'s');

  const peer = new WebSocket(`${BASE.replace('http', 'ws')}/api/v1/ws/conversations/${cid}?token=${other.token}`);
  const peerEvents = [];
  peer.on('message', d => peerEvents.push(JSON.parse(d.toString())));
  await new Promise((resolve, reject) => { peer.on('open', resolve); peer.on('error', reject); });

  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: ['--no-sandbox'] });
  try {
    const page = await browser.newPage();
    const logs = [];
    page.on('console', m => logs.push(m.text()));
    await page.goto(`${ORIGIN}/health`);
    // Declarations become globals so that later steps see `ws`, as in a console.
    await page.addScriptTag({ content: open.replace(/^const /gm, 'var ') });
    // The snippet sends right after `new WebSocket`, which any browser refuses
    // while the socket is CONNECTING; run its steps as a console user would.
    await page.waitForFunction(() => window.ws && window.ws.readyState === 1, null, { timeout: 10000 });
    await page.addScriptTag({ content: s.send });
    await page.addScriptTag({ content: s.typing });

    const waitFor = async (pred, what) => {
      for (let i = 0; i < 100; i++) { if (pred()) return; await sleep(100); }
      assert.fail(`timed out waiting for ${what}; browser said ${JSON.stringify(logs)}, peer got ${JSON.stringify(peerEvents).slice(0, 300)}`);
    };
    // The browser's message and typing reach the other member...
    await waitFor(() => peerEvents.some(e => e.type === 'message' && e.content === 'Hi'), 'the peer to get "Hi"');
    await waitFor(() => peerEvents.some(e => e.type === 'typing_indicator' && e.typing_users.includes(me.id)), 'the peer to see typing');
    // ...and the snippet's handlers print what the other member does.
    peer.send(JSON.stringify({ type: 'typing', is_typing: true }));
    peer.send(JSON.stringify({ type: 'message', content: 'Hello from the peer' }));
    await waitFor(() => logs.includes('Message: Hello from the peer'), 'the page to log the peer\'s message');
    await waitFor(() => logs.some(l => l.startsWith('Typing:')), 'the page to log typing');
    const history = await api('GET', `/conversations/${cid}/messages`, null, other.token);
    assert.deepEqual(history.json.messages.map(m => m.content).sort(), ['Hello from the peer', 'Hi']);
  } finally {
    await browser.close();
    peer.close();
  }
});
