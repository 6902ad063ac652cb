// report.mjs RESULTS.jsonl - the Markdown table of bench/run.sh: each figure
// next to the limit it is judged against and the target of issue 5.
import { readFileSync } from 'node:fs';
import { execSync } from 'node:child_process';
import os from 'node:os';

const rows = readFileSync(process.argv[2], 'utf8').trim().split('\n').filter(Boolean).map(l => JSON.parse(l));
const limit = n => rows.find(r => r.limit === n) || {};
const runs = n => rows.filter(r => r.scenario === n);
const fmt = (x, d = 0) => (x === undefined || x === null || Number.isNaN(x) ? 'n/a' : Number(x).toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d }));
const sh = c => { try { return execSync(c, { encoding: 'utf8' }).trim(); } catch { return '?'; } };

const pg = limit('pgbench-send').ops_per_s;
const web = limit('trivial-fastcgi').ops_per_s;
const xadd = limit('redis-xadd').ops_per_s;
const out = [];
const cpu = (os.cpus()[0] || {}).model || '?';
out.push('# chat-bench results', '');
out.push(`- Date: ${new Date().toISOString()}`);
out.push(`- Commit: ${sh('git rev-parse --short HEAD')}${sh('git status --porcelain --untracked-files=no') ? ' (with local changes)' : ''}`);
out.push(`- Machine: ${os.cpus().length} × ${cpu}, ${fmt(os.totalmem() / 2 ** 30, 1)} GiB RAM, ${sh('uname -sr')}`);
out.push('- Command: `bench/run.sh` (Release build, `scripts/stack.sh --profile bench`: nginx with 2 workers, chat-api with 256 connection threads over 15 backends, 2 gateways, PostgreSQL 15 with synchronous_commit=on, Redis; the load generator on the same 2 cores)', '');

out.push('## Limits of this machine, measured in the same run', '');
out.push('| limit | ops/s | how |', '|---|---:|---|');
out.push(`| PostgreSQL, one send per transaction | ${fmt(pg)} | ${limit('pgbench-send').command || ''} |`);
out.push(`| nginx + trivial FastCGI responder | ${fmt(web)} | chat-bench http-get, 64 connections, same nginx config |`);
out.push(`| Redis XADD | ${fmt(xadd)} | ${limit('redis-xadd').command || ''} |`, '');

const verdict = ok => (ok === undefined ? '' : ok ? 'met' : '**missed**');
out.push('## Scenarios', '');
out.push('| scenario | throughput | p50 ms | p99 ms | p99.9 ms | errors | bench CPU (cores) | against | target | verdict |');
out.push('|---|---:|---:|---:|---:|---:|---:|---|---|---|');
const line = (r, thr, against, target, ok) => out.push(`| ${r.scenario} | ${thr} | ${fmt(r.p50_ms, 2)} | ${fmt(r.p99_ms, 2)} | ${fmt(r.p999_ms, 2)} | ${r.errors} | ${fmt(r.bench_cpu_cores, 2)} | ${against} | ${target} | ${verdict(ok)} |`);
for (const r of runs('rest-send')) {
  const ratio = r.ops_per_s / pg;
  line(r, `${fmt(r.ops_per_s)} msg/s`, `${fmt(100 * ratio)}% of pgbench`, '≥ 70%, p99 ≤ 25 ms, 0 errors', ratio >= 0.7 && r.p99_ms <= 25 && r.errors === 0);
}
for (const [name, want] of [['rest-history-cached', 0.6], ['rest-history-uncached', 0.4], ['rest-history-deep', null]]) {
  for (const r of runs(name)) {
    const ratio = r.ops_per_s / web;
    line(r, `${fmt(r.ops_per_s)} req/s`, `${fmt(100 * ratio)}% of trivial FastCGI`, want ? `≥ ${want * 100}%` : 'report', want ? ratio >= want : undefined);
  }
}
for (const r of runs('rest-mixed')) line(r, `${fmt(r.ops_per_s)} req/s`, `${fmt(100 * r.ops_per_s / web)}% of trivial FastCGI`, 'report', undefined);
for (const r of runs('login')) line(r, `${fmt(r.ops_per_s)} logins/s`, 'argon2id 19 MiB, t=2', 'report (bound by design)', undefined);
for (const r of runs('ws-fanout')) {
  // the latency target is set at 2,000 msg/s, the throughput target open loop (6,000 offered)
  const kind = r.sent_per_s < 1800 ? 'report' : r.sent_per_s < 3000 ? 'latency' : 'throughput';
  const gws = r.gateways > 1 ? `, ${r.gateways} gateways` : ', 1 gateway';
  line(r, `${fmt(r.deliveries_per_s)} deliveries/s (${fmt(r.sent_per_s)} sent/s, ${fmt(r.connections)} clients, groups of ${r.group_size}${gws})`,
    'send→receive latency', { report: 'report', latency: 'p99 ≤ 10 ms at 2,000 msg/s', throughput: '≥ 300,000 deliveries/s' }[kind],
    { report: undefined, latency: r.p99_ms <= 10 && r.errors === 0, throughput: r.deliveries_per_s >= 300000 && r.errors === 0 }[kind]);
}
for (const r of runs('ws-ingest')) {
  const ratio = r.persisted_per_s / pg;
  line(r, `${fmt(r.persisted_per_s)} msg/s stored`, `${fmt(ratio, 2)}× pgbench`, '≥ 3×', ratio >= 3 && r.errors === 0);
}
for (const r of runs('ws-idle')) {
  line(r, `${fmt(r.connect_per_s)} connect+auth/s, ${fmt(r.held)} held`, `${fmt(r.rss_per_conn_kib, 2)} KiB gateway RSS per socket`,
    '≥ 5,000/s, ≤ 8 KiB, 20,000 held', r.connect_per_s >= 5000 && r.rss_per_conn_kib <= 8 && r.held >= 20000 && r.errors === 0);
}
const dl = rows.find(r => r.check === 'pg-deadlocks');
if (dl) out.push('', `PostgreSQL deadlocks during the scenarios (pg_stat_database): ${dl.count}.`);
try { out.push('', readFileSync(new URL('./ANALYSIS.md', import.meta.url), 'utf8').trim()); } catch { /* optional */ }
out.push('', '## Command lines', '');
for (const r of rows.filter(r => r.command)) out.push(`- \`${r.command}\``);
console.log(out.join('\n'));
