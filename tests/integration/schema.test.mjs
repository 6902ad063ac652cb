// Migrations and query plans against the real PostgreSQL of the test stack.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';

const DB = process.env.DATABASE_URL;
const BIN = process.env.CHAT_API_BIN;
const ENV_FILE = process.env.CHAT_ENV_FILE;

function psql(sql) {
  return execFileSync('psql', [DB, '-XAtq', '-v', 'ON_ERROR_STOP=1', '-c', sql], { encoding: 'utf8' }).trim();
}

test('migrations applied twice are a no-op', () => {
  const before = psql('SELECT count(*) FROM schema_migrations');
  for (let i = 0; i < 2; i++) {
    const r = spawnSync(BIN, ['--env-file', ENV_FILE, 'migrate'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /0 applied/);
  }
  assert.equal(psql('SELECT count(*) FROM schema_migrations'), before);
  assert.ok(Number(before) >= 1);
});

test('a database newer than the binary is refused', () => {
  psql("INSERT INTO schema_migrations (version, name) VALUES (9999, '9999_future.sql')");
  try {
    const r = spawnSync(BIN, ['--env-file', ENV_FILE, 'migrate'], { encoding: 'utf8' });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /newer than this binary/);
  } finally {
    psql('DELETE FROM schema_migrations WHERE version = 9999');
  }
});

test('chat-api without SECRET_KEY exits non-zero naming SECRET_KEY', () => {
  const env = { PATH: process.env.PATH, DATABASE_URL: DB };
  const r = spawnSync(BIN, ['check-config'], { encoding: 'utf8', env, cwd: '/' });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /SECRET_KEY/);
});

test('direct conversations are unique by a database constraint', () => {
  const def = psql("SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'conversations_direct_unique'");
  assert.match(def, /UNIQUE \(direct_low, direct_high\)/);
});

function plan(sql) {
  return psql(`SET enable_seqscan = off; EXPLAIN ${sql}`);
}

test('hot queries use their indexes', () => {
  const id = '00000000-0000-7000-8000-000000000000';
  const history = plan(`SELECT * FROM messages WHERE conversation_id = '${id}' AND seq < 100 ORDER BY seq DESC LIMIT 51`);
  assert.match(history, /messages_conversation_seq_key/);
  const mine = plan(`SELECT conversation_id FROM conversation_members WHERE user_id = '${id}'`);
  assert.match(mine, /conversation_members_user_idx/);
});
