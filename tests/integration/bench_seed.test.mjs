// chat-bench against a server of the seed's protocol (fixtures/seed_server.mjs:
// no pong, no ack, messages echoed to the sender): ws-fanout detects it and
// delivers, and a scenario that delivers nothing is an error, not a zero.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { seedServer } from './fixtures/seed_server.mjs';

const BENCH = join(dirname(process.env.CHAT_API_BIN || '../../build-test/fcgi-api/chat-api'), '..', 'bench', 'chat-bench');

function bench(base, extra = []) {
  const args = ['--scenario', 'ws-fanout', '--base-url', base, '--ws-url', base.replace('http', 'ws'),
    '--connections', '20', '--group-size', '10', '--duration', '2', '--threads', '1', '--json', ...extra];
  return new Promise(resolve => {
    const p = spawn(BENCH, args);
    let out = '', err = '';
    p.stdout.on('data', d => { out += d; });
    p.stderr.on('data', d => { err += d; });
    p.on('close', code => resolve({ code, out, err, result: out.trim() ? JSON.parse(out.trim().split('\n').pop()) : null }));
  });
}

for (const [name, extra] of [['detected (auto)', []], ['named (--protocol seed)', ['--protocol', 'seed']],
  ['closed loop on the echo (--rate 0)', ['--rate', '0']]]) {
  test(`ws-fanout delivers on a seed-protocol server, ${name}`, async () => {
    const seed = await seedServer();
    try {
      const r = await bench(seed.url, extra.includes('--rate') ? extra : [...extra, '--rate', '100']);
      assert.equal(r.code, 0, r.err);
      assert.equal(r.result.errors, 0, r.err);
      assert.equal(r.result.protocol, 'seed');
      assert.ok(r.result.deliveries_per_s > 0, JSON.stringify(r.result));
    } finally {
      seed.close();
    }
  });
}

test('a ws-fanout that delivers nothing is an error, not a zero', async () => {
  const broken = await seedServer({ deliver: false });
  try {
    const r = await bench(broken.url, ['--rate', '100']);
    assert.notEqual(r.code, 0);
    assert.ok(r.result.errors >= 1, JSON.stringify(r.result));
    assert.match(r.err, /delivered nothing/);
  } finally {
    broken.close();
  }
});
