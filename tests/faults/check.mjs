// check.mjs - the fault suite's checker: PostgreSQL against what the clients
// saw (a record written by run.mjs). Run alone on a saved record (the stack
// still up): node check.mjs var/faults/fault-record.json
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

export function psql(sql) {
  const out = execFileSync('psql', [process.env.DATABASE_URL, '-XAtq', '-F', '\t', '-v', 'ON_ERROR_STOP=1', '-c', sql],
    { encoding: 'utf8', maxBuffer: 1 << 30 });
  return out.split('\n').filter(l => l.length).map(l => l.split('\t'));
}

export const deadlocks = () => Number(psql('SELECT coalesce(sum(deadlocks), 0) FROM pg_stat_database')[0][0]);

// record: {convs:[cid], receivers:[{user, cid, mode, sessions:[{frames:[[seq,id,t,offline]]}]}],
//          messages:[{cmid, cid, sender, ack, acks:[{id,seq,t}]}], faults:[{name,start,end}], ...}
export function check(rec) {
  const problems = [];
  const note = (kind, what) => { if (problems.length < 200) problems.push(`${kind}: ${what}`); };
  const inList = rec.convs.map(c => `'${c}'`).join(',');
  const rows = psql(`SELECT conversation_id, seq, id, sender_id, coalesce(client_message_id, ''), content FROM messages WHERE conversation_id IN (${inList}) ORDER BY conversation_id, seq`);
  const lastSeq = new Map(psql(`SELECT id, last_seq FROM conversations WHERE id IN (${inList})`).map(([c, s]) => [c, Number(s)]));

  // The database: ids unique, one row per (conversation, sender, client id), seqs 1..last_seq.
  const byConv = new Map(rec.convs.map(c => [c, new Map()])); // cid -> seq -> row
  const byId = new Map(), byCmid = new Map(), byContent = new Map();
  let dbDup = 0, gaps = 0;
  for (const [cid, s, id, sender, cmid, content] of rows) {
    const seq = Number(s), row = { cid, seq, id, sender, cmid };
    const conv = byConv.get(cid);
    if (conv.has(seq)) { dbDup++; note('db duplicate seq', `${cid} seq ${seq}`); }
    conv.set(seq, row);
    if (byId.has(id)) { dbDup++; note('db duplicate id', id); }
    byId.set(id, row);
    const k = `${cid}/${sender}/${cmid}`;
    if (cmid) { if (byCmid.has(k)) { dbDup++; note('db duplicate client_message_id', k); } byCmid.set(k, row); }
    if (byContent.has(content)) { dbDup++; note('db duplicate content', `${content} (seq ${byContent.get(content).seq} and ${seq})`); }
    byContent.set(content, row);
  }
  for (const [cid, conv] of byConv) {
    const max = lastSeq.get(cid) ?? 0;
    for (let s = 1; s <= max; s++) if (!conv.has(s)) { gaps++; note('seq gap', `${cid} seq ${s} missing (last_seq ${max})`); }
    if (conv.size > max) { gaps++; note('seq above last_seq', cid); }
  }

  // Acknowledged messages: stored, exactly the row every ack named.
  let acked = 0, ackedMissing = 0, ackMismatch = 0;
  const ackOf = new Map(); // row id -> ack time
  for (const m of rec.messages) {
    if (!m.acks.length) continue;
    acked++;
    const row = byCmid.get(`${m.cid}/${m.sender}/${m.cmid}`);
    if (!row) { ackedMissing++; note('acked, not stored', `${m.cmid} ack ${JSON.stringify(m.acks[0])}`); continue; }
    for (const a of m.acks) if (a.id !== row.id || Number(a.seq) !== row.seq) { ackMismatch++; note('ack names another row', `${m.cmid}: ack ${a.id}/${a.seq}, stored ${row.id}/${row.seq}`); }
    ackOf.set(row.id, m.ack);
  }

  // Receivers: every stored message of their conversation (they subscribe from
  // seq 0), exactly once across all their sessions, in seq order in each: both
  // kinds of socket resume exactly (since_seq, or since=<conversation>:<seq>).
  let missingDeliveries = 0, dupDeliveries = 0, outOfOrder = 0, wrongId = 0;
  const lostIds = new Set(), undelivered = new Set(), dupIds = new Set();
  const lastRecv = new Map(); // row id -> latest first-delivery time over receivers
  for (const r of rec.receivers) {
    const conv = byConv.get(r.cid);
    const got = new Map(); // seq -> count
    r.sessions.forEach((sess, si) => {
      let prev = 0;
      const seen = new Set();
      for (const [seq, id, t] of sess.frames) {
        const row = conv.get(seq);
        if (!row || row.id !== id) { wrongId++; note('frame not in db', `${r.user} ${r.cid} seq ${seq} id ${id}`); continue; }
        if (seen.has(seq)) { dupDeliveries++; dupIds.add(id); note('duplicate in one session', `${r.user} seq ${seq} session ${si}`); continue; }
        seen.add(seq);
        if (seq <= prev) { outOfOrder++; note('out of order', `${r.user} ${r.cid} seq ${seq} after ${prev} session ${si}`); }
        prev = Math.max(prev, seq);
        if (got.has(seq)) {
          dupDeliveries++; dupIds.add(id); note('duplicate across sessions', `${r.user} (${r.mode}) seq ${seq} session ${si} since ${sess.since}`);
          got.set(seq, got.get(seq) + 1);
          continue;
        }
        got.set(seq, 1);
        if (!lastRecv.has(id) || lastRecv.get(id) < t) lastRecv.set(id, t);
      }
    });
    for (const [seq, row] of conv) {
      if (got.has(seq)) continue;
      missingDeliveries++;
      undelivered.add(row.id);
      if (ackOf.has(row.id)) { lostIds.add(row.id); note('lost', `${r.user} (${r.mode}) never got ${r.cid} seq ${seq} ${row.id} (acked)`); }
      else note('undelivered (stored, ack never seen)', `${r.user} ${r.cid} seq ${seq}`);
    }
  }

  // Delivery delay: last receiver's first copy minus the ack, or minus the end
  // of the fault the ack fell in (or whose recovery window it fell in).
  let maxDelay = 0, maxDelayAfterRecovery = 0, maxDelayFault = '';
  for (const m of rec.messages) {
    if (!m.ack) continue;
    const row = byCmid.get(`${m.cid}/${m.sender}/${m.cmid}`);
    const t = row && lastRecv.get(row.id);
    if (!t || lostIds.has(row.id)) continue;
    // A fault starts a second early: a message acked just before it may be caught in it.
    const f = rec.faults.find(f => m.ack >= f.start - 1000 && m.ack <= f.end + rec.recoveryMs);
    if (f) { const d = t - Math.max(m.ack, f.end); if (d > maxDelayAfterRecovery) { maxDelayAfterRecovery = d; maxDelayFault = f.name; } }
    else maxDelay = Math.max(maxDelay, t - m.ack);
  }

  const lost = lostIds.size + ackedMissing;
  const duplicated = dbDup + dupIds.size + ackMismatch;
  return {
    rows: rows.length, acked, ackedMissing, ackMismatch, dbDup, gaps, missingDeliveries, dupDeliveries, outOfOrder,
    wrongId, lost, undelivered: undelivered.size, duplicated, maxDelay, maxDelayAfterRecovery, maxDelayFault,
    lostIds: [...lostIds], problems,
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const rec = JSON.parse(readFileSync(process.argv[2], 'utf8'));
  const r = check(rec);
  console.log(JSON.stringify({ ...r, lostIds: r.lostIds.length, problems: r.problems.slice(0, 30) }, null, 1));
  process.exit(r.lost > 0 || r.duplicated > 0 || r.gaps > 0 || r.outOfOrder > 0 || r.wrongId > 0 ? 1 : 0);
}
