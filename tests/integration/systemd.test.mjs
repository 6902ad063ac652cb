// The systemd units (conf/*.service) and the sd_notify protocol of both binaries.
//
// systemd-analyze verify must accept the units as shipped, with only the binary paths
// pointed at this build. Each binary is then started the way its unit starts it, with a
// NOTIFY_SOCKET of our own (tests/tools/notify_sink, since node has no unix datagram
// sockets) and a 2 s watchdog: READY=1 only once it answers, WATCHDOG=1 within every
// interval, STOPPING=1 on SIGTERM and a clean exit.
//
// Environment (scripts/stack.sh env): CHAT_API_BIN, CHAT_GATEWAY_BIN, CHAT_ENV_FILE.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';

const HERE = dirname(fileURLToPath(import.meta.url));
const CONF = join(HERE, '..', '..', 'conf');
const API_BIN = process.env.CHAT_API_BIN;
const GW_BIN = process.env.CHAT_GATEWAY_BIN;
const ENV_FILE = process.env.CHAT_ENV_FILE;
// built beside the binaries: <build>/tests/notify_sink
const SINK = process.env.CHAT_NOTIFY_SINK || join(dirname(dirname(API_BIN)), 'tests', 'notify_sink');
const WATCHDOG_USEC = 2000000;

// The unit's text with the installed paths swapped for this build and this stack.
function unitFor(name) {
  return readFileSync(join(CONF, `${name}.service`), 'utf8')
    .replaceAll('/usr/local/bin/chat-api', API_BIN)
    .replaceAll('/usr/local/bin/chat-gateway', GW_BIN);
}

// Every value of `key=` in the unit, in order.
function directives(text, key) {
  return text.split('\n').filter(l => l.startsWith(`${key}=`)).map(l => l.slice(key.length + 1));
}

// A command line of the unit as argv, its env file replaced by the stack's.
function commandOf(text, key) {
  const [line] = directives(text, key);
  assert.ok(line, `no ${key}=`);
  return line.split(/\s+/).map(a => (a === '/etc/chat/chat.env' ? ENV_FILE : a));
}

test('systemd-analyze verify accepts both units', () => {
  const dir = mkdtempSync(join(tmpdir(), 'chat-units-'));
  try {
    const files = ['chat-api', 'chat-gateway'].map(n => {
      const f = join(dir, `${n}.service`);
      writeFileSync(f, unitFor(n));
      return f;
    });
    const r = spawnSync('systemd-analyze', ['verify', ...files], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr.trim(), '', 'verify warned');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('both units are Type=notify with a watchdog, hardened', () => {
  for (const n of ['chat-api', 'chat-gateway']) {
    const u = unitFor(n);
    assert.deepEqual(directives(u, 'Type'), ['notify'], n);
    assert.deepEqual(directives(u, 'NotifyAccess'), ['main'], n);
    assert.equal(directives(u, 'WatchdogSec').length, 1, n);
    assert.deepEqual(directives(u, 'Restart'), ['on-failure'], n);
    assert.deepEqual(directives(u, 'EnvironmentFile'), ['/etc/chat/chat.env'], n);
    assert.deepEqual(directives(u, 'CapabilityBoundingSet'), [''], n);
    for (const k of ['ProtectSystem', 'NoNewPrivileges', 'MemoryDenyWriteExecute', 'SystemCallFilter'])
      assert.ok(directives(u, k).length > 0, `${n}: ${k}`);
  }
  assert.deepEqual(directives(unitFor('chat-api'), 'Group'), ['www-data']);
  assert.deepEqual(directives(unitFor('chat-api'), 'RuntimeDirectory'), ['chat']);
});

test("chat-api's ExecStartPre (migrate) runs as the unit writes it", () => {
  const [bin, ...args] = commandOf(unitFor('chat-api'), 'ExecStartPre');
  const r = spawnSync(bin, args, { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /schema up to date/);
});

// systemd's EnvironmentFile= takes a '#' after a value as part of it, and the environment
// wins over --env-file: a comment must have a line of its own for both readers to agree.
test('conf/chat.env.example reads the same under EnvironmentFile= and --env-file', () => {
  const example = join(CONF, 'chat.env.example');
  const inline = readFileSync(example, 'utf8').split('\n').filter(l => /^[A-Za-z_][A-Za-z0-9_]*=.*\s#/.test(l));
  assert.deepEqual(inline, [], 'comments after values');
  const r = spawnSync(API_BIN, ['--env-file', example, 'check-config'],
    { encoding: 'utf8', env: { PATH: process.env.PATH }, cwd: '/' });
  assert.equal(r.status, 0, r.stderr);
});

// notify_sink on a fresh socket: messages() yields each datagram with its arrival time.
async function startSink(dir) {
  const path = join(dir, 'notify.sock');
  const proc = spawn(SINK, [path], { stdio: ['pipe', 'pipe', 'inherit'] });
  const got = [];
  const waiters = [];
  const lines = createInterface({ input: proc.stdout });
  let listening;
  const up = new Promise(r => { listening = r; });
  lines.on('line', line => {
    if (line === 'listening') return listening();
    got.push({ msg: line, at: Date.now() });
    for (const w of waiters.splice(0)) w();
  });
  await up;
  return {
    path,
    got,
    // Resolves with the count-th message equal to msg (arrival order), or rejects after ms.
    async wait(msg, count = 1, ms = 10000) {
      const end = Date.now() + ms;
      for (;;) {
        const hits = got.filter(m => m.msg === msg);
        if (hits.length >= count) return hits[count - 1];
        if (Date.now() > end) throw new Error(`no ${count}x ${msg}; got ${JSON.stringify(got.map(m => m.msg))}`);
        await new Promise(r => {
          const t = setTimeout(r, end - Date.now() + 1);
          waiters.push(() => { clearTimeout(t); r(); });
        });
      }
    },
    stop() { proc.stdin.end(); },
  };
}

function exitOf(proc) {
  return new Promise(r => proc.once('exit', (code, signal) => r({ code, signal })));
}

// A free TCP port for an extra gateway.
function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

// Runs `argv` under our NOTIFY_SOCKET and checks READY (answering by then), periodic
// WATCHDOG, STOPPING on SIGTERM and exit 0. answers() must succeed at READY, first try.
async function checkNotify(argv, env, answers) {
  const dir = mkdtempSync(join(tmpdir(), 'chat-sd-'));
  const sink = await startSink(dir);
  const [bin, ...args] = argv;
  const proc = spawn(bin, args, {
    env: { ...process.env, ...env(dir), NOTIFY_SOCKET: sink.path, WATCHDOG_USEC: String(WATCHDOG_USEC) },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  proc.stderr.on('data', d => { stderr += d; });
  const exited = exitOf(proc);
  try {
    await sink.wait('READY=1');
    assert.ok(await answers(dir), `not answering at READY=1; stderr: ${stderr}`);
    assert.equal(sink.got[0].msg, 'READY=1', 'READY=1 is the first message');

    const pings = [await sink.wait('WATCHDOG=1', 1), await sink.wait('WATCHDOG=1', 2), await sink.wait('WATCHDOG=1', 3)];
    for (let i = 1; i < pings.length; i++) {
      const gap = pings[i].at - pings[i - 1].at;
      assert.ok(gap < WATCHDOG_USEC / 1000, `watchdog gap ${gap} ms exceeds the interval`);
      assert.ok(gap >= WATCHDOG_USEC / 1000 / 4, `watchdog gap ${gap} ms: pinging far too often`);
    }

    proc.kill('SIGTERM');
    await sink.wait('STOPPING=1');
    const { code, signal } = await exited;
    assert.equal(signal, null, stderr);
    assert.equal(code, 0, stderr);
  } finally {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGKILL');
      await exited;
    }
    sink.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

test('chat-api: READY=1 once it answers, WATCHDOG=1 within each interval, STOPPING=1 on SIGTERM', async () => {
  const argv = commandOf(unitFor('chat-api'), 'ExecStart');
  await checkNotify(argv, dir => ({ FCGI_SOCKET: join(dir, 'api.sock'), FCGI_THREADS: '4' }), dir => {
    const r = spawnSync('cgi-fcgi', ['-bind', '-connect', join(dir, 'api.sock')], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH, REQUEST_METHOD: 'GET', REQUEST_URI: '/healthz', SCRIPT_NAME: '/healthz' },
      timeout: 5000,
    });
    return r.status === 0 && /^Status: 200/.test(r.stdout);
  });
});

test('chat-gateway: READY=1 once it answers, WATCHDOG=1 within each interval, STOPPING=1 on SIGTERM', async () => {
  const argv = commandOf(unitFor('chat-gateway'), 'ExecStart');
  const port = await freePort();
  await checkNotify(argv, () => ({ WS_HOST: '127.0.0.1', WS_PORT: String(port), GATEWAY_ID: `sd-${process.pid}` }),
    async () => (await fetch(`http://127.0.0.1:${port}/healthz`)).status === 200);
});
