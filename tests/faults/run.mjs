// run.mjs - the fault-injection suite: "nothing acknowledged is lost".
//
//   node tests/faults/run.mjs [--short] [--soak MINUTES] [--record FILE]
//
// Needs the environment of `scripts/stack.sh --profile faults env` (the stack
// running; CHAT_STACK is how faults are injected). scripts/faults.sh starts and
// stops that stack around it (`make test-faults`).
//
// A load (direct and group conversations, one socket per member on either
// gateway, REST and WebSocket sends retried with the same client_message_id
// until acknowledged) runs while faults are injected one at a time, then
// overlapping, each followed by a recovery window. After a quiet period the
// checker (check.mjs) compares PostgreSQL with what every client saw. Exit
// status 1 when an acknowledged message was lost or duplicated, a receiver got
// frames out of order, seqs have gaps, a process of the stack died unexpectedly,
// a sanitizer report or deadlock appeared, or (soak) a process' RSS grew steadily.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { readFileSync, writeFileSync, statSync, existsSync, readdirSync, openSync, readSync, closeSync } from 'node:fs';
import { Api, User, Receiver, Sender, endpoints, sleep } from './load.mjs';
import { check, deadlocks } from './check.mjs';

const args = process.argv.slice(2);
const SHORT = args.includes('--short');
const soakAt = args.indexOf('--soak');
const SOAK_MIN = soakAt >= 0 ? Number(args[soakAt + 1]) : 0;
const recAt = args.indexOf('--record');
const env = process.env;
for (const k of ['CHAT_BASE_URL', 'CHAT_STACK', 'CHAT_VAR_DIR', 'DATABASE_URL']) {
  if (!env[k]) { console.error(`run.mjs: ${k} is not set (eval "$(scripts/stack.sh --profile faults env)")`); process.exit(2); }
}
const VAR = env.CHAT_VAR_DIR;
const RECORD = recAt >= 0 ? args[recAt + 1] : `${VAR}/fault-record.json`;

const cfg = SHORT
  ? { directs: 12, groups: 4, groupSize: 4, quietDirects: 7, intervalMs: 120, recoveryMs: 4000, warmupMs: 4000, quietMs: 5000, overlaps: false }
  : { directs: 40, groups: 10, groupSize: 4, quietDirects: 11, intervalMs: 250, recoveryMs: 8000, warmupMs: 5000, quietMs: 6000, overlaps: true };
cfg.wsShare = 0.5;     // share of sends over WebSocket
cfg.allShare = 0.25;   // share of users on the all-conversations socket

const t0 = Date.now();
const log = (...a) => console.log(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(6)}s]`, ...a);

// ---- the stack ----
const STACK = env.CHAT_STACK.split(' ');
// Asynchronous, so that the load goes on while a command runs.
const execFileP = promisify(execFile);
async function stack(...cmd) {
  const t = Date.now();
  try {
    await execFileP(STACK[0], [...STACK.slice(1), ...cmd], { timeout: 120000 });
  } catch (e) {
    log(`stack.sh ${cmd.join(' ')} failed: ${(e.stderr || e.message).trim()}`);
    throw e;
  }
  if (Date.now() - t > 2000) log(`stack.sh ${cmd.join(' ')} took ${Date.now() - t} ms`);
}
const PIDFILES = { redis: 'redis.pid', 'chat-api': 'chat-api.pid', gateway1: 'gateway1.pid', gateway2: 'gateway2.pid', nginx: '../nginx/nginx.pid' };
function pgDataDir() {
  const local = `${VAR}/pg/data`;
  if (existsSync(`${local}/postmaster.pid`)) return local;
  const m = /host=([^&]+)/.exec(env.DATABASE_URL);
  return m ? m[1].replace(/\/sock$/, '/data') : local;
}
function readPid(name) {
  try {
    if (name === 'postgres') return Number(readFileSync(`${pgDataDir()}/postmaster.pid`, 'utf8').split('\n')[0]);
    return Number(readFileSync(`${VAR}/pids/${PIDFILES[name]}`, 'utf8').trim());
  } catch { return 0; }
}
const alive = pid => { if (!pid) return false; try { process.kill(pid, 0); return true; } catch { return false; } };
const PROCS = ['postgres', 'redis', 'chat-api', 'gateway1', 'gateway2', 'nginx'];
const expectedPid = Object.fromEntries(PROCS.map(p => [p, readPid(p)]));
const died = [];
// After a fault's recovery: every process runs, and only the ones the fault restarted changed pid.
function checkProcs(when, restarted = []) {
  for (const p of PROCS) {
    const pid = readPid(p);
    if (restarted.includes(p)) { expectedPid[p] = pid; if (!alive(pid)) died.push(`${p} not running after ${when}`); continue; }
    if (!alive(expectedPid[p])) died.push(`${p} (pid ${expectedPid[p]}) died (noticed after ${when})`);
    else if (pid !== expectedPid[p]) died.push(`${p} changed pid ${expectedPid[p]} -> ${pid} (after ${when})`);
  }
}

// Log positions at start: only what the run appended is searched for crash reports.
const LOGDIR = `${VAR}/log`;
const logStart = {};
for (const f of existsSync(LOGDIR) ? readdirSync(LOGDIR) : []) logStart[f] = statSync(`${LOGDIR}/${f}`).size;
function logReports() {
  const bad = /AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|runtime error:|Segmentation fault|core dumped|Assertion .* failed|terminated by signal|deadlock detected|PANIC/;
  const found = [];
  for (const f of readdirSync(LOGDIR)) {
    const size = statSync(`${LOGDIR}/${f}`).size, from = logStart[f] || 0;
    if (size <= from) continue;
    const fd = openSync(`${LOGDIR}/${f}`, 'r'), buf = Buffer.alloc(Math.min(size - from, 64 << 20));
    readSync(fd, buf, 0, buf.length, from); closeSync(fd);
    for (const line of buf.toString().split('\n')) if (bad.test(line)) found.push(`${f}: ${line.slice(0, 200)}`);
  }
  const sdir = `${VAR}/sanitizer`;
  if (existsSync(sdir)) for (const f of readdirSync(sdir)) found.push(`sanitizer report ${sdir}/${f}`);
  return found;
}

// ---- RSS samples (soak) ----
const DATASET_PROCS = new Set(['redis']);
const rss = {}; // proc -> [{pid, t, kb}]
function sampleRss() {
  for (const p of PROCS) {
    const pid = readPid(p);
    try {
      const kb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);
      (rss[p] ||= []).push({ pid, t: Date.now(), kb });
    } catch { /* restarting */ }
  }
}
// Steady growth: over the longest run of one pid (first fifth dropped as warm-up),
// each quarter's median above the previous one and the last 30% (and 8 MiB) above the first.
function rssGrowth() {
  const out = [];
  for (const [p, samples] of Object.entries(rss)) {
    const byPid = new Map();
    for (const s of samples) (byPid.get(s.pid) || byPid.set(s.pid, []).get(s.pid)).push(s.kb);
    const longest = [...byPid.values()].sort((a, b) => b.length - a.length)[0] || [];
    const xs = longest.slice(Math.floor(longest.length / 5));
    if (xs.length < 12) continue;
    const q = [0, 1, 2, 3].map(i => { const a = xs.slice(Math.floor(i * xs.length / 4), Math.floor((i + 1) * xs.length / 4)).sort((x, y) => x - y); return a[a.length >> 1]; });
    const grows = q[1] > q[0] && q[2] > q[1] && q[3] > q[2] && q[3] > q[0] * 1.3 && q[3] - q[0] > 8192;
    // Redis holds the data it is given (each shard stream up to MAXLEN ~100,000 entries, the
    // caches, the limits): its growth under a steady load is its dataset, reported, not a leak.
    out.push({ proc: p, samples: xs.length, quarters_kib: q, grows: grows && !DATASET_PROCS.has(p), dataset: DATASET_PROCS.has(p) });
  }
  return out;
}

// ---- set-up ----
const api = new Api(env.CHAT_BASE_URL);
const eps = endpoints(env);
const stats = { sent: 0, acked: 0, retries: 0, refused: 0, gaveUp: 0, connects: 0, reconnects: 0, handshakeRefused: 0, refusedBy: {}, badFrames: 0, foreignFrames: 0, strayAcks: 0, wsErrors: {} };
const messages = [];
const convs = []; // {cid, kind, quiet, members:[{user, receiver, sender}]}

async function makeUsers(n) {
  const us = [];
  for (let i = 0; i < n; i += 10) {
    const batch = Array.from({ length: Math.min(10, n - i) }, (_, k) => new User(api, i + k));
    await Promise.all(batch.map(u => u.register()));
    us.push(...batch);
  }
  return us;
}

async function setup() {
  const nUsers = cfg.directs * 2 + cfg.groups * cfg.groupSize;
  const users = await makeUsers(nUsers);
  let u = 0, k = 0;
  for (let i = 0; i < cfg.directs; i++) {
    const a = users[u++], b = users[u++];
    const r = await api.call('POST', '/conversations/direct', { other_user_id: b.id }, a.token);
    if (r.status !== 201 && r.status !== 200) throw new Error(`direct ${r.status}`);
    // Quiet conversation q sends only during the q-th fault (mod their number).
    convs.push({ cid: r.json.id, kind: 'direct', quiet: i < cfg.quietDirects, quietIdx: i, users: [a, b] });
  }
  for (let i = 0; i < cfg.groups; i++) {
    const g = users.slice(u, u + cfg.groupSize); u += cfg.groupSize;
    const r = await api.call('POST', '/conversations/group', { type: 'group', name: `faults${i}`, participant_ids: g.slice(1).map(x => x.id) }, g[0].token);
    if (r.status !== 201) throw new Error(`group ${r.status}`);
    convs.push({ cid: r.json.id, kind: 'group', quiet: false, users: g });
  }
  for (const c of convs) {
    c.members = c.users.map(user => {
      const mode = (k % Math.round(1 / cfg.allShare)) === 1 ? 'all' : 'conv';
      const receiver = new Receiver({ user, cid: c.cid, mode, endpoints: eps, first: k++, log, stats });
      const sender = new Sender({ user, cid: c.cid, receiver, api, stats, messages, wsShare: cfg.wsShare });
      return { user, receiver, sender };
    });
  }
  const receivers = convs.flatMap(c => c.members.map(m => m.receiver));
  receivers.forEach(r => r.connect());
  for (let i = 0; i < 100 && receivers.some(r => !r.open); i++) await sleep(100);
  if (receivers.some(r => !r.open)) throw new Error('some sockets did not open');
  return receivers;
}

// ---- load ----
let stopSending = false;
let faultActive = null; // the fault being injected: quiet conversations send only then
let faultCount = 0;
const senderLoops = [];
function startLoad(stopAt) {
  for (const c of convs) for (const m of c.members) {
    senderLoops.push((async () => {
      await sleep(Math.random() * cfg.intervalMs);
      while (!stopSending) {
        // Quiet conversations send only while a fault is on, then stay silent:
        // what they send then must still reach every member without a later message.
        // Each quiet conversation belongs to one fault (cyclically), so a loss at one
        // fault is not hidden by the messages of the next.
        if (c.quiet && (!faultActive || faultActive.idx % cfg.quietDirects !== c.quietIdx)) { await sleep(100); continue; }
        await m.sender.sendOne(stopAt());
        await sleep(cfg.intervalMs * (0.5 + Math.random()) * (c.quiet ? 3 : 1));
      }
    })());
  }
}

// ---- faults ----
const faults = []; // {name, start, end}
async function fault(name, inject, holdMs, recover, restarted = []) {
  log(`fault ${name}: inject`);
  const f = { name, start: Date.now(), end: 0, idx: faultCount++ };
  faultActive = f;
    await inject();
  if (holdMs) await sleep(holdMs);
  await recover();
  f.end = Date.now();
  faults.push(f);
  log(`fault ${name}: recovered after ${((f.end - f.start) / 1000).toFixed(1)} s; recovery window ${cfg.recoveryMs / 1000} s`);
  faultActive = null; // its quiet conversation sends nothing more: what it sent must arrive anyway
  await sleep(cfg.recoveryMs);
  checkProcs(name, restarted);
}
let deadlockBase = 0, deadlockDelta = 0;
function safeDeadlocks() { try { return deadlocks(); } catch { return null; } }
// An immediate restart resets the statistics: count what was there before it.
async function pgRestart() {
  const d = safeDeadlocks();
  if (d !== null) deadlockDelta += d - deadlockBase;
  await stack('pg-restart-immediate');
  deadlockBase = safeDeadlocks() ?? 0;
}

let receiversAll = [];
// A group member stops reading while the group bursts large messages (more than
// the kernel's buffers and the gateway's queue hold): the gateway should close it
// (1008) and it resumes with since_seq once it reads again.
function slowConsumer(ms) {
  // Two victims: a per-conversation socket (resumes by since_seq) and, when the
  // group has one, an all-conversations socket (resumes from the read watermark).
  const g = convs.find(c => c.kind === 'group' && !c.quiet);
  const victims = [g.members.find(m => m.receiver.mode === 'conv'), g.members.find(m => m.receiver.mode === 'all')].filter(Boolean);
  return async () => {
    const t = Date.now();
    for (const v of victims) { v.receiver.pauseReading(ms); log(`slow consumer: ${v.receiver.mode} socket of ${v.user.id} stops reading`); }
    const burst = [];
    for (let w = 0; w < 8; w++) burst.push((async () => {
      const s = g.members[w % g.members.length].sender;
      for (let i = 0; i < 250; i++) await s.sendOne(Date.now() + 30000, 'rest', 3900);
    })());
    await Promise.all(burst);
    if (Date.now() - t < ms) await sleep(ms - (Date.now() - t));
  };
}

const singles = [
  ['redis restart', () => stack('redis-restart'), 0, async () => {}, ['redis']],
  ['redis SIGSTOP 10s', () => stack('redis-pause'), 10000, () => stack('redis-resume')],
  ['postgres immediate restart', () => pgRestart(), 0, async () => {}, ['postgres']],
  ['postgres SIGSTOP 5s', () => stack('pg-pause'), 5000, () => stack('pg-resume')],
  ['chat-api kill -9', () => stack('api-kill'), 2000, () => stack('api-start'), ['chat-api']],
  ['gateway1 kill -9', () => stack('gateway-kill', '1'), 3000, () => stack('gateway-start', '1'), ['gateway1']],
  ['slow consumer 12s', async () => {}, 0, null, []],
];
const overlaps = [
  ['redis SIGSTOP 10s + gateway2 kill -9', async () => { await stack('redis-pause'); await stack('gateway-kill', '2'); }, 10000,
    async () => { await stack('redis-resume'); await stack('gateway-start', '2'); }, ['gateway2']],
  ['postgres SIGSTOP 5s + chat-api kill -9', async () => { await stack('pg-pause'); await stack('api-kill'); }, 5000,
    async () => { await stack('pg-resume'); await stack('api-start'); }, ['chat-api']],
  ['redis restart during postgres SIGSTOP', async () => { await stack('pg-pause'); await sleep(2000); await stack('redis-restart'); }, 3000,
    () => stack('pg-resume'), ['redis']],
  ['postgres immediate restart + redis SIGSTOP 5s', async () => { await stack('redis-pause'); await pgRestart(); }, 5000,
    () => stack('redis-resume'), ['postgres']],
];

async function runSchedule(list) {
  for (const [name, inject, hold, recover, restarted] of list) {
    if (name.startsWith('slow consumer')) await fault(name, slowConsumer(12000), 0, async () => {}, []);
    else await fault(name, inject, hold, recover, restarted || []);
  }
}

// ---- main ----
let rc = 0;
try {
  deadlockBase = deadlocks();
  log(`set-up: ${cfg.directs} direct (${cfg.quietDirects} quiet) + ${cfg.groups} groups of ${cfg.groupSize}, endpoints ${eps.map(e => e.name).join(', ')}`);
  receiversAll = await setup();
  log(`${receiversAll.length} sockets open (${receiversAll.filter(r => r.mode === 'all').length} all-conversations)`);
  const readTimer = setInterval(() => receiversAll.forEach(r => r.markRead()), 250);
  let rssTimer = null;
  if (SOAK_MIN) { sampleRss(); rssTimer = setInterval(sampleRss, 5000); }
  let deadline = Infinity;
  startLoad(() => deadline);
  const rateTimer = setInterval(() => log(`sent ${stats.sent} acked ${stats.acked} retries ${stats.retries} reconnects ${stats.reconnects}`), 10000);
  await sleep(cfg.warmupMs);
  await runSchedule(singles);
  if (cfg.overlaps) await runSchedule(overlaps);
  while (SOAK_MIN && Date.now() - t0 < SOAK_MIN * 60000) {
    await runSchedule([...singles, ...overlaps]);
  }
  // Stop sending; unacknowledged sends keep retrying for a while (a real client would).
  log('stopping the load');
  stopSending = true;
  deadline = Date.now() + 15000;
  await Promise.all(senderLoops);
  log(`quiet period ${cfg.quietMs / 1000} s`);
  await sleep(cfg.quietMs);
  clearInterval(readTimer); clearInterval(rateTimer); if (rssTimer) clearInterval(rssTimer);
  receiversAll.forEach(r => r.close());
  checkProcs('the run');
  await sleep(300);

  const rec = {
    convs: convs.map(c => c.cid), recoveryMs: cfg.recoveryMs, faults, stats,
    receivers: receiversAll.map(r => ({ user: r.user.id, cid: r.cid, mode: r.mode, sessions: r.sessions.map(s => ({ endpoint: s.endpoint, since: s.since, opened: s.opened, closed: s.closed, code: s.code, frames: s.frames })) })),
    messages: messages.map(m => ({ cmid: m.cmid, cid: m.cid, sender: m.sender, transport: m.transport, first: m.first, ack: m.ack || null, acks: m.acks, attempts: m.attempts, refused: m.refused || null, errors: m.errors })),
  };
  writeFileSync(RECORD, JSON.stringify(rec));
  const r = check(rec);
  const d = safeDeadlocks();
  if (d !== null) deadlockDelta += d - deadlockBase;
  const reports = logReports();
  const growth = SOAK_MIN ? rssGrowth() : [];
  const quietConvs = new Set(convs.filter(c => c.quiet).map(c => c.cid));
  const lostQuiet = rec.messages.filter(m => m.ack && r.lostIds.includes(m.acks[0].id) && quietConvs.has(m.cid)).length;

  // Which fault each lost message's ack fell in.
  const lostBy = {};
  for (const m of rec.messages) if (m.ack && r.lostIds.includes(m.acks[0].id)) {
    const f = faults.find(f => m.ack >= f.start - 1000 && m.ack <= f.end + cfg.recoveryMs);
    const k = `${f ? f.name : 'no fault'} / ${m.transport}`;
    lostBy[k] = (lostBy[k] || 0) + 1;
  }

  console.log('\n=== fault suite: nothing acknowledged is lost ===');
  console.log(`mode ${SOAK_MIN ? `soak ${SOAK_MIN} min` : SHORT ? 'short' : 'full'}, ${((Date.now() - t0) / 1000).toFixed(0)} s, ${convs.length} conversations, ${receiversAll.length} sockets, record ${RECORD}`);
  const table = [
    ['faults injected', faults.length + ' (' + faults.map(f => f.name).join('; ') + ')'],
    ['messages sent', stats.sent],
    ['acked', r.acked],
    ['stored rows', r.rows],
    ['lost (acked, not delivered to some receiver, or not stored)', `${r.lost} (${lostQuiet} in quiet conversations; acked-not-stored ${r.ackedMissing}; missing deliveries ${r.missingDeliveries})`],
    ['duplicated (db rows, deliveries, acks naming another row)', `${r.duplicated} (db ${r.dbDup}, deliveries ${r.dupDeliveries}, acks ${r.ackMismatch})`],
    ['out of order / seq gaps / frames not in db', `${r.outOfOrder} / ${r.gaps} / ${r.wrongId}`],
    ['stored but never acked and undelivered', r.undelivered - r.lostIds.length],
    ['max delivery delay, outside faults', `${r.maxDelay} ms`],
    ['max delivery delay after recovery', `${r.maxDelayAfterRecovery} ms${r.maxDelayFault ? ` (${r.maxDelayFault})` : ''}`],
    ['retries / gave up / refused (4xx)', `${stats.retries} / ${stats.gaveUp} / ${stats.refused}`],
    ['socket reconnects / handshakes refused', `${stats.reconnects} / ${stats.handshakeRefused} ${JSON.stringify(stats.refusedBy)}`],
    ['processes died', died.length ? died.join('; ') : 'none'],
    ['crash reports in logs', reports.length ? reports.length : 'none'],
    ['deadlocks (pg_stat_database)', deadlockDelta],
  ];
  if (SOAK_MIN) table.push(['RSS growth', growth.map(g => `${g.proc} ${g.quarters_kib.join('→')} KiB${g.grows ? ' GROWS' : ''}${g.dataset ? ' (its dataset)' : ''}`).join('; ')]);
  const w = Math.max(...table.map(t => t[0].length));
  for (const [k, v] of table) console.log(`${k.padEnd(w)} | ${v}`);
  if (Object.keys(lostBy).length) { console.log('\nlost by fault / transport of the send:'); for (const [k, v] of Object.entries(lostBy)) console.log(`  ${k}: ${v}`); }
  if (Object.keys(stats.wsErrors).length) console.log(`websocket error frames: ${JSON.stringify(stats.wsErrors)}`);
  if (r.problems.length) { console.log('\nfirst problems:'); for (const p of r.problems.slice(0, 25)) console.log('  ' + p); }
  if (reports.length) { console.log('\ncrash reports:'); for (const p of reports.slice(0, 20)) console.log('  ' + p); }
  const fail = r.lost > 0 || r.duplicated > 0 || r.outOfOrder > 0 || r.gaps > 0 || r.wrongId > 0 || died.length > 0 ||
    reports.length > 0 || deadlockDelta > 0 || growth.some(g => g.grows);
  console.log(`\nresult: ${fail ? 'FAIL' : 'PASS'}`);
  rc = fail ? 1 : 0;
} catch (e) {
  console.error('run.mjs:', e);
  rc = 2;
}
process.exit(rc);
