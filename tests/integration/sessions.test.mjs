// Sockets follow the account: logout, a password change and account deletion close the user's
// open sockets (4401) on every gateway within a second or two, an access token from before the
// revocation no longer opens one, and a socket closes when its token expires unless the client
// re-authorised it with a fresh token. Before, a socket was authorised once, at connect, and
// kept receiving everything after any of these.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execSync } from 'node:child_process';
import { createHmac, randomUUID } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { api, user, direct, sleep } from './helpers.mjs';
import { client, convUrl, allUrl, closedWithin } from './wsclient.mjs';

const WS = process.env.CHAT_WS_URL || 'ws://127.0.0.1:18000';
const [PORT1, PORT2] = (process.env.CHAT_GATEWAY_PORTS || '18091,18092').split(',');
const GW1 = `ws://127.0.0.1:${PORT1}`;
const GW2 = `ws://127.0.0.1:${PORT2}`;

// An access token signed with the stack's key, for expiry times the API would not issue.
function token(sub, iat, exp) {
  const key = readFileSync(`${process.env.CHAT_VAR_DIR}/secret_key`, 'utf8').trim();
  const b64 = o => Buffer.from(JSON.stringify(o)).toString('base64url');
  const body = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ sub, jti: randomUUID(), typ: 'access', iat, exp })}`;
  return `${body}.${createHmac('sha256', key).update(body).digest('base64url')}`;
}

test('logout closes the user\'s sockets on every gateway; the old token opens none; a new login does', async () => {
  const a = await user(); const b = await user();
  const cid = await direct(a, b);
  const s1 = client(convUrl(GW1, cid, b.token));
  const s2 = client(allUrl(GW2, b.token));
  const other = client(convUrl(GW1, cid, a.token));
  await Promise.all([s1.opened, s2.opened, other.opened]);
  await sleep(300);
  await sleep(1000); // the revocation below must fall in a later second than the token's iat
  const r = await api('POST', '/auth/logout', { refresh_token: b.refresh });
  assert.equal(r.status, 204);
  assert.equal(await closedWithin(s1, 2000), 4401);
  assert.equal(await closedWithin(s2, 2000), 4401);
  assert.equal(other.ws.readyState, 1, 'another user\'s socket stays');
  const stale = client(convUrl(WS, cid, b.token));
  assert.equal(await closedWithin(stale, 3000), 4401);
  const again = await api('POST', '/auth/login', { username: b.name, password: 'password123' });
  assert.equal(again.status, 200);
  const fresh = client(convUrl(WS, cid, again.json.access_token));
  await fresh.opened;
  await sleep(500);
  assert.equal(fresh.ws.readyState, 1);
  await Promise.all([fresh.close(), other.close()]);
});

test('a password change closes the user\'s open sockets', async () => {
  const a = await user(); const b = await user();
  const cid = await direct(a, b);
  const s = client(convUrl(WS, cid, b.token));
  await s.opened;
  await sleep(1200);
  const r = await api('PUT', '/users/me', { password: 'another-password-1', current_password: 'password123' }, b.token);
  assert.equal(r.status, 200);
  assert.equal(await closedWithin(s, 2000), 4401);
});

test('deleting the account closes its open sockets on every gateway', async () => {
  const a = await user(); const b = await user();
  const cid = await direct(a, b);
  const s1 = client(convUrl(GW1, cid, b.token));
  const s2 = client(allUrl(GW2, b.token));
  await Promise.all([s1.opened, s2.opened]);
  await sleep(300);
  assert.equal((await api('DELETE', '/users/me', null, b.token)).status, 204);
  assert.equal(await closedWithin(s1, 2000), 4401);
  assert.equal(await closedWithin(s2, 2000), 4401);
});

test('a socket closes at its token\'s expiry unless re-authorised with a fresh token first', async () => {
  const a = await user(); const b = await user();
  const cid = await direct(a, b);
  const now = Math.floor(Date.now() / 1000);
  const short = client(convUrl(GW1, cid, token(b.id, now, now + 3)));
  const renewed = client(convUrl(GW1, cid, token(b.id, now, now + 3)));
  await Promise.all([short.opened, renewed.opened]);
  renewed.send({ type: 'auth', token: b.token }); // the API's token: minutes left
  const ok = await renewed.next(e => e.type === 'auth_ok');
  assert.ok(ok.expires_at > now + 60);
  // someone else's token does not renew it
  renewed.send({ type: 'auth', token: a.token });
  assert.equal((await renewed.next(e => e.type === 'error')).code, 'unauthorized');
  assert.equal(await closedWithin(short, 6000), 4401);
  await sleep(1500);
  assert.equal(renewed.ws.readyState, 1, 'the re-authorised socket stays');
  await renewed.close();
});

test('no log the stack writes holds a token used in the URL, even when a gateway is down', async () => {
  const a = await user(); const b = await user();
  const cid = await direct(a, b);
  const s = client(convUrl(WS, cid, b.token, '&since_seq=0'));
  await s.opened;
  await s.close();
  // nginx's error log quotes the request line of a failed upstream connect
  execSync(`${process.env.CHAT_STACK} gateway-kill 2`);
  try {
    for (let i = 0; i < 4; i++) {
      const t = client(convUrl(WS, cid, a.token));
      await t.opened;
      await t.close();
    }
  } finally {
    execSync(`${process.env.CHAT_STACK} gateway-start 2`);
  }
  await sleep(300);
  const dir = `${process.env.CHAT_VAR_DIR}/log`;
  const access = readFileSync(`${dir}/nginx-access.log`, 'utf8');
  assert.ok(access.includes(`/api/v1/ws/conversations/${cid}?token=-&since_seq=0`), 'the socket is logged, its token as "-"');
  for (const f of readdirSync(dir)) {
    const text = readFileSync(`${dir}/${f}`, 'utf8');
    assert.ok(!text.includes(b.token), `${f} holds the token`);
    assert.ok(!text.includes(b.refresh), `${f} holds the refresh token`);
    assert.ok(!text.includes(a.token), `${f} holds the token of a socket that met a dead gateway`);
  }
});
