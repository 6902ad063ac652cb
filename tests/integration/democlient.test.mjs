// The demo web client (web/, served by nginx at /) in Debian's headless
// Chromium (playwright-core), two users in two browser contexts: both register,
// A starts a direct conversation with B by B's id, history scrolls by cursor,
// unread counts and read marks follow, messages and typing go both ways live,
// a dropped socket reconnects and resumes without losing or repeating a
// message, and a token refresh re-authorises the open socket.
// DEMO_SCREENSHOT=<file.png> also saves the two windows side by side there
// (docs/demo-client.png is made so).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { chromium } from 'playwright-core';
import { BASE, api } from './helpers.mjs';

const PORT = new URL(BASE).port;
const ORIGIN = `http://localhost:${PORT}`; // in CORS_ORIGINS, as for the browser snippet's test
const WAIT = { timeout: 10000 };

async function signUp(browser, label) {
  const context = await browser.newContext({ viewport: { width: 760, height: 640 } });
  const page = await context.newPage();
  const problems = [];  // script errors, CSP refusals: the page must have none
  page.on('pageerror', (e) => problems.push(`${label}: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`${label}: ${m.text()}`); });
  const res = await page.goto(`${ORIGIN}/`);
  assert.equal(res.status(), 200);
  assert.match(res.headers()['content-security-policy'], /script-src 'self'/);

  const name = `${label}${randomUUID().replace(/-/g, '').slice(0, 10)}`;
  const form = page.locator('#register-form');
  await form.getByLabel('Username').fill(name);
  await form.getByLabel('E-mail').fill(`${name}@example.com`);
  await form.getByLabel('Password').fill('password123');
  await form.getByRole('button', { name: 'Register' }).click();
  await page.locator('#conn[data-state="open"]').waitFor(WAIT);
  const id = (await page.locator('#me-id').textContent()).trim();
  assert.equal((await page.locator('#me-name').textContent()).trim(), name);
  const token = await page.evaluate(() => window.chatDemo.session.token);
  return { context, page, name, id, token, problems };
}

const message = (page, text) => page.locator('#message-list li.msg', { hasText: text });

async function type(page, text) {
  await page.locator('#compose-text').pressSequentially(text, { delay: 15 });
}

test('the demo web client: two users, live both ways, history, read marks, reconnect', { timeout: 90000 }, async () => {
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: ['--no-sandbox'] });
  try {
    const a = await signUp(browser, 'a');
    const b = await signUp(browser, 'b');

    // An unknown user id is an error the page shows (the API's code), not silence.
    await a.page.locator('#direct-user').fill(randomUUID());
    await a.page.locator('#direct-form button[type="submit"]').click();
    await a.page.locator('#errors .error', { hasText: 'not_found' }).waitFor(WAIT);
    await a.page.locator('#errors .error button').first().click();

    // A starts the conversation with B by id (the API has no lookup by username).
    await a.page.locator('#direct-user').fill(b.id);
    await a.page.locator('#direct-form button[type="submit"]').click();
    await a.page.locator('#conv-name', { hasText: b.name }).waitFor(WAIT);
    const cid = await a.page.locator('#conv-list .conv-item[aria-current="true"]').getAttribute('data-id');
    assert.ok(cid);

    // 60 messages over REST: B sees the conversation appear, with 60 unread.
    for (let i = 1; i <= 60; i++) {
      const r = await api('POST', `/conversations/${cid}/messages`, { content: `history ${String(i).padStart(2, '0')}` }, a.token);
      assert.equal(r.status, 201, JSON.stringify(r.json));
    }
    const bItem = b.page.locator(`#conv-list .conv-item[data-id="${cid}"]`);
    await bItem.locator('.badge', { hasText: /^60$/ }).waitFor(WAIT);
    await bItem.locator('.dot.on').waitFor(WAIT);  // A is online
    await message(a.page, 'history 60').waitFor(WAIT);  // live on A's open conversation too

    // B opens it: the newest page, then older ones as B scrolls up.
    await bItem.click();
    await message(b.page, 'history 60').waitFor(WAIT);
    assert.equal(await message(b.page, 'history 01').count(), 0, 'only the newest page at first');
    await b.page.locator('#load-older').waitFor(WAIT);
    while (await message(b.page, 'history 01').count() === 0) {
      const before = await b.page.locator('#message-list li.msg').count();
      await b.page.locator('#messages').evaluate((e) => { e.scrollTop = 0; e.dispatchEvent(new Event('scroll')); });
      await b.page.waitForFunction((n) => document.querySelectorAll('#message-list li.msg').length > n, before, WAIT);
    }
    assert.equal(await b.page.locator('#message-list li.msg').count(), 60);
    await b.page.locator('#load-older').waitFor({ state: 'hidden', ...WAIT });

    // Opening it read it: B's unread count is gone, A sees the read mark.
    await bItem.locator('.badge').waitFor({ state: 'detached', ...WAIT });
    await message(a.page, 'history 60').locator('.status[data-status="read"]').waitFor(WAIT);

    // A types: B sees the indicator; A sends: B sees the message live.
    await type(a.page, 'Hello B');
    await b.page.locator('#typing', { hasText: `${a.name} is typing` }).waitFor(WAIT);
    await a.page.locator('#compose-text').press('Enter');
    await message(b.page, 'Hello B').waitFor(WAIT);
    // B has the conversation open: A's message shows read.
    await message(a.page, 'Hello B').locator('.status[data-status="read"]').waitFor(WAIT);

    // B answers; A sees it live.
    await type(b.page, 'Hi A');
    await a.page.locator('#typing', { hasText: `${b.name} is typing` }).waitFor(WAIT);
    await b.page.locator('#compose button[type="submit"]').click();
    await message(a.page, 'Hi A').waitFor(WAIT);
    await message(b.page, 'Hi A').waitFor(WAIT);

    // B loses its socket and cannot reconnect (offline) while A sends...
    await b.context.setOffline(true);
    await b.page.evaluate(() => window.chatDemo.dropSocket());
    await b.page.locator('#conn:not([data-state="open"])').waitFor(WAIT);
    await type(a.page, 'sent while B was away');
    await a.page.locator('#compose-text').press('Enter');
    await message(a.page, 'sent while B was away').waitFor(WAIT);
    assert.notEqual(await b.page.locator('#conn').getAttribute('data-state'), 'open', 'B stayed disconnected');
    assert.equal(await message(b.page, 'sent while B was away').count(), 0);
    // B's other device reads it meanwhile: a socket resuming at the read watermark would
    // now skip it; the page's since=<conversation>:<seq> must not.
    assert.equal((await api('POST', `/conversations/${cid}/read`, {}, b.token)).status, 200);
    // ...then comes back: the socket resumes (since=) and the message arrives, once.
    await b.context.setOffline(false);
    await b.page.locator('#conn[data-state="open"]').waitFor({ timeout: 20000 });
    await message(b.page, 'sent while B was away').waitFor(WAIT);
    await type(a.page, 'and after');
    await a.page.locator('#compose-text').press('Enter');
    await message(b.page, 'and after').waitFor(WAIT);
    assert.equal(await message(b.page, 'sent while B was away').count(), 1, 'no message repeated');
    const seqs = await b.page.$$eval('#message-list li.msg', (lis) => lis.map((li) => Number(li.dataset.seq)));
    assert.deepEqual(seqs, Array.from({ length: seqs.length }, (_, i) => i + 1), 'every message, in order, none missing');

    // B read what arrived on the resumed socket too (A sees the mark)...
    await message(a.page, 'and after').locator('.status[data-status="read"]').waitFor(WAIT);
    // ...so a reload, which keeps the session (sessionStorage), finds nothing unread.
    await b.page.reload();
    await b.page.locator('#conn[data-state="open"]').waitFor(WAIT);
    await bItem.waitFor(WAIT);
    assert.equal(await bItem.locator('.badge').count(), 0);
    await bItem.click();
    await message(b.page, 'and after').waitFor(WAIT);

    // A refreshes its tokens: the open socket takes the new one (auth_ok) and stays live.
    const expiresAt = await a.page.evaluate(() => window.chatDemo.refreshNow());
    assert.ok(expiresAt * 1000 > Date.now());
    await type(b.page, 'after the refresh');
    await b.page.locator('#compose-text').press('Enter');
    await message(a.page, 'after the refresh').waitFor(WAIT);
    assert.equal(await a.page.locator('#conn').getAttribute('data-state'), 'open');
    await message(b.page, 'after the refresh').locator('.status[data-status="read"]').waitFor(WAIT);

    // A logs out (the page forgets the session) and logs in again with the login form.
    await a.page.locator('#logout').click();
    const login = a.page.locator('#login-form');
    await login.waitFor(WAIT);
    assert.equal(await a.page.evaluate(() => window.chatDemo.session.active), false);
    await login.getByLabel('Username or e-mail').fill(a.name);
    await login.getByLabel('Password').fill('password123');
    await login.getByRole('button', { name: 'Log in' }).click();
    await a.page.locator('#conn[data-state="open"]').waitFor(WAIT);
    const aItem = a.page.locator(`#conv-list .conv-item[data-id="${cid}"]`);
    await aItem.waitFor(WAIT);
    assert.equal(await aItem.locator('.badge').count(), 0, 'A had read everything before logging out');
    await aItem.click();
    await message(a.page, 'after the refresh').waitFor(WAIT);

    if (process.env.DEMO_SCREENSHOT) {
      for (const u of [a, b]) await u.page.locator('#messages').evaluate((e) => { e.scrollTop = e.scrollHeight; });
      const shots = await Promise.all([a, b].map((u) => u.page.screenshot()));
      const page = await browser.newPage({ viewport: { width: 1560, height: 660 } });
      await page.setContent(`<body style="margin:0;background:#888;display:flex;gap:20px;padding:10px">${
        shots.map((s) => `<img src="data:image/png;base64,${s.toString('base64')}">`).join('')}</body>`);
      await page.waitForFunction(() => [...document.images].every((i) => i.complete));
      writeFileSync(process.env.DEMO_SCREENSHOT, await page.screenshot());
    }

    assert.equal(await a.page.locator('#errors .error').count(), 0, await a.page.locator('#errors').textContent());
    assert.equal(await b.page.locator('#errors .error').count(), 0, await b.page.locator('#errors').textContent());
    // The console's network errors of the test's own making (the unknown user's 404, B offline) aside.
    const unexpected = [...a.problems, ...b.problems].filter((p) => !/status of 404|ERR_INTERNET_DISCONNECTED/.test(p));
    assert.deepEqual(unexpected, []);
  } finally {
    await browser.close();
  }
});
