// The WebSocket client the gateway tests share: one that records every
// event and lets a test wait for one, and the socket URLs.
import { after, beforeEach } from 'node:test';
import WebSocket from 'ws';

// Every socket a test opened; whatever is still open at the end is closed
// (and named), so a forgotten socket cannot keep the test process alive.
const sockets = new Set();
let currentTest = '';
beforeEach(t => { currentTest = t.name; });
after(() => {
  for (const ws of sockets) {
    if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CLOSING) {
      console.error(`left open by "${ws.testName}": ${ws.url.replace(/token=[^&]+/, 'token=…')}`);
      ws.terminate();
    }
  }
});

// A client that records every event and lets a test wait for one.
export function client(url, opts) {
  const ws = new WebSocket(url, opts);
  sockets.add(ws);
  ws.testName = currentTest;
  const events = [];
  const waiters = [];
  ws.on('message', d => {
    const e = JSON.parse(d.toString());
    events.push(e);
    for (const w of [...waiters]) if (w.pred(e)) { waiters.splice(waiters.indexOf(w), 1); w.resolve(e); }
  });
  const closed = new Promise(resolve => ws.on('close', (code) => resolve(code)));
  const opened = new Promise((resolve, reject) => {
    ws.on('open', resolve);
    ws.on('unexpected-response', (req, res) => {
    req.destroy(); // ws leaves the socket open for whoever listens here
    reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { status: res.statusCode }));
  });
    ws.on('error', reject);
  });
  opened.catch(() => {});
  return {
    ws, events, closed, opened,
    next(pred, ms = 5000) {
      const found = events.find(pred);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const w = { pred, resolve };
        waiters.push(w);
        setTimeout(() => reject(new Error(`timed out; got ${JSON.stringify(events).slice(0, 400)}`)), ms);
      });
    },
    send(obj) { ws.send(typeof obj === 'string' ? obj : JSON.stringify(obj)); },
    close() { ws.close(); return closed; },
  };
}


export const convUrl = (base, cid, token, extra = '') => `${base}/api/v1/ws/conversations/${cid}?token=${token}${extra}`;
export const allUrl = (base, token, extra = '') => `${base}/api/v1/ws?token=${token}${extra}`;
// The socket's close code, or 'still open' after ms.
export const closedWithin = (c, ms) => Promise.race([c.closed, new Promise(r => setTimeout(() => r('still open'), ms))]);
export const isMsg = content => e => (e.type === 'message' || e.type === 'offline_message') && e.content === content;
