// graphql-transport-ws conformance of the running OrderStream API, with raw
// frames from the `ws` package (one case per close code and rule of
// enisdenjo/graphql-ws PROTOCOL.md) and with the `graphql-ws` client.
// "Duplicate id" and "nothing after complete" are the regression tests of
// the bug where a second subscribe with a live id was accepted and the
// orphan kept pushing after the client's complete.
//
// Run by e2e/conformance_test.go, which starts the binaries and passes:
//   GRAPHQL_URL  the API's GraphQL endpoint, e.g. http://127.0.0.1:PORT/graphql
//   TOKEN        a bearer token of USER_ID
//   USER_ID      the token's user
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { randomUUID } from 'node:crypto';

import WebSocket from 'ws';
import { createClient } from 'graphql-ws';

const env = (name) => {
  const v = process.env[name];
  assert.ok(v, `${name} must be set (run this through e2e/conformance_test.go)`);
  return v;
};
const GRAPHQL_URL = env('GRAPHQL_URL');
const TOKEN = env('TOKEN');
const USER_ID = env('USER_ID');
const WS_URL = GRAPHQL_URL.replace(/^http/, 'ws');
const prefix = `ws-${randomUUID().slice(0, 8)}`;

// graphql sends an operation over HTTP with the token.
async function graphql(query, variables) {
  const res = await fetch(GRAPHQL_URL, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = await res.json();
  assert.equal(body.errors, undefined, `${query}: ${JSON.stringify(body.errors)}`);
  return body.data;
}

const item = (quantity) => [{ name: 'Product A', quantity, price: '1.00' }];
const createOrder = (externalId) => graphql(
  'mutation($in: CreateOrderInput!) { createOrder(input: $in) { order { status eventId } } }',
  { in: { externalId, userId: USER_ID, items: item(1) } });
const updateOrder = (externalId, quantity) => graphql(
  'mutation($in: UpdateOrderInput!) { updateOrder(input: $in) { order { status eventId } } }',
  { in: { externalId, userId: USER_ID, items: item(quantity) } });
const cancelOrder = (externalId) => graphql(
  'mutation($in: CancelOrderInput!) { cancelOrder(input: $in) { order { status eventId } } }',
  { in: { externalId, userId: USER_ID, reason: 'ws protocol test' } });

const SUB = 'subscription($e: String!, $u: ID!) { orderUpdated(externalId: $e, userId: $u) { status eventId } }';
const subscribe = (id, externalId) => ({ id, type: 'subscribe', payload: { query: SUB, variables: { e: externalId, u: USER_ID } } });

// connect opens a raw graphql-transport-ws socket. Messages other than
// ping/pong queue up for take(); pings are answered.
async function connect() {
  const ws = new WebSocket(WS_URL, 'graphql-transport-ws');
  const inbox = [];
  let wake = () => {};
  let closeEvent = null;
  const closed = new Promise((resolve) => ws.on('close', (code, reason) => {
    closeEvent = { code, reason: reason.toString() };
    wake();
    resolve(closeEvent);
  }));
  ws.on('message', (data) => {
    const m = JSON.parse(data.toString());
    if (m.type === 'ping') ws.send(JSON.stringify({ type: 'pong' }));
    inbox.push(m);
    wake();
  });
  await once(ws, 'open');
  assert.equal(ws.protocol, 'graphql-transport-ws');
  const c = {
    ws,
    closed,
    all: [], // every message taken, in order
    send: (m) => ws.send(typeof m === 'string' ? m : JSON.stringify(m)),
    // take returns the next message other than ping/pong.
    async take(ms = 30000) {
      const deadline = Date.now() + ms;
      for (;;) {
        const i = inbox.findIndex((m) => m.type !== 'ping' && m.type !== 'pong');
        if (i >= 0) {
          const [m] = inbox.splice(0, i + 1).slice(-1);
          c.all.push(m);
          return m;
        }
        if (closeEvent) throw new Error(`closed ${closeEvent.code} ${closeEvent.reason} while waiting for a message`);
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`no message within ${ms} ms`);
        let timer;
        await new Promise((resolve) => { wake = resolve; timer = setTimeout(resolve, left); });
        clearTimeout(timer);
      }
    },
    // quiet sends a ping and checks that its pong is all that comes.
    async quiet() {
      c.send({ type: 'ping', payload: { probe: 1 } });
      for (;;) {
        while (inbox.length) {
          const m = inbox.shift();
          if (m.type === 'pong' && m.payload?.probe === 1) return;
          if (m.type !== 'ping' && m.type !== 'pong') assert.fail(`unexpected ${JSON.stringify(m)}`);
        }
        let timer;
        const timedOut = await new Promise((resolve) => { wake = () => resolve(false); timer = setTimeout(() => resolve(true), 10000); });
        clearTimeout(timer);
        if (closeEvent) assert.fail(`closed ${closeEvent.code} while waiting for pong`);
        if (timedOut) assert.fail('no pong within 10 s');
      }
    },
    async init(token = TOKEN) {
      c.send({ type: 'connection_init', payload: token ? { Authorization: `Bearer ${token}` } : {} });
      const m = await c.take();
      assert.equal(m.type, 'connection_ack');
    },
    async closedWith(code) {
      const ev = await Promise.race([closed,
        new Promise((resolve) => setTimeout(() => resolve(null), 20000).unref())]);
      assert.ok(ev, `not closed within 20 s; want ${code}`);
      assert.equal(ev.code, code, `closed with ${ev.code} "${ev.reason}"; want ${code}`);
      return ev;
    },
  };
  return c;
}

describe('close codes (raw frames)', { concurrency: true }, () => {
  const cases = [
    ['4400: malformed JSON', false, ['{"type": "connection_init"'], 4400],
    ['4400: unknown message type', true, [{ type: 'start', id: '1', payload: { query: '{ __typename }' } }], 4400],
    ['4400: subscribe without id', true, [{ type: 'subscribe', payload: { query: '{ __typename }' } }], 4400],
    ['4400: subscribe without a query string', true, [{ type: 'subscribe', id: '1', payload: { query: 1 } }], 4400],
    ['4400: next from the client', true, [{ type: 'next', id: '1', payload: {} }], 4400],
    ['4401: subscribe before connection_ack', false, [{ type: 'subscribe', id: '1', payload: { query: '{ __typename }' } }], 4401],
    ['4403: connection_init with an invalid token', false, [{ type: 'connection_init', payload: { Authorization: 'Bearer not-a-jwt' } }], 4403],
    ['4403: connection_init without a token', false, [{ type: 'connection_init', payload: {} }], 4403],
    ['4408: no connection_init within 10 s', false, [], 4408],
    ['4429: a second connection_init', true, [{ type: 'connection_init', payload: { Authorization: `Bearer ${TOKEN}` } }], 4429],
  ];
  for (const [name, acked, frames, code] of cases) {
    test(name, async () => {
      const c = await connect();
      if (acked) await c.init();
      for (const f of frames) c.send(f);
      await c.closedWith(code);
    });
  }
});

describe('operations (raw frames)', () => {
  test('4409: a second subscribe with a live id closes the socket (the duplicate-id bug)', async () => {
    const ext = `${prefix}-dup`;
    await createOrder(ext);
    const c = await connect();
    await c.init();
    c.send(subscribe('1', ext));
    const first = await c.take();
    assert.equal(first.type, 'next');
    assert.equal(first.id, '1');
    c.send(subscribe('1', ext));
    const ev = await c.closedWith(4409);
    assert.match(ev.reason, /Subscriber for 1 already exists/);
  });

  test('nothing is pushed for an id after the client completes it', async () => {
    const ext = `${prefix}-complete`;
    await createOrder(ext);
    const c = await connect();
    await c.init();
    c.send(subscribe('gone', ext));
    c.send(subscribe('witness', ext));
    const firsts = [await c.take(), await c.take()];
    assert.deepEqual(firsts.map((m) => m.type), ['next', 'next']);
    c.send({ id: 'gone', type: 'complete' });
    const cut = c.all.length;

    // NEW, PROCESSING, DONE for the update, then NEW, PROCESSING,
    // CANCELLED for the cancel: the witness sees them, "gone" must not.
    await updateOrder(ext, 2);
    await cancelOrder(ext);
    for (;;) {
      const m = await c.take();
      assert.notEqual(m.id, 'gone', `pushed after complete: ${JSON.stringify(m)}`);
      assert.equal(m.id, 'witness');
      if (m.payload.data.orderUpdated.status === 'CANCELLED') break;
    }
    assert.ok(c.all.slice(cut).every((m) => m.id === 'witness'));
    c.send({ id: 'witness', type: 'complete' });
    await c.quiet(); // and no complete back for either
    c.ws.close(1000);
  });

  test('an id may be used again once completed', async () => {
    const ext = `${prefix}-reuse`;
    await createOrder(ext);
    const c = await connect();
    await c.init();
    c.send(subscribe('1', ext));
    assert.equal((await c.take()).type, 'next');
    c.send({ id: '1', type: 'complete' });
    c.send(subscribe('1', ext));
    const again = await c.take();
    assert.equal(again.type, 'next');
    assert.equal(again.id, '1');
    c.ws.close(1000);
  });

  test('complete from the server: a query gets next then complete', async () => {
    const c = await connect();
    await c.init();
    c.send({ id: 'q', type: 'subscribe', payload: { query: '{ __typename }' } });
    assert.deepEqual(await c.take(), { id: 'q', type: 'next', payload: { data: { __typename: 'Query' } } });
    assert.deepEqual(await c.take(), { id: 'q', type: 'complete' });
    c.ws.close(1000);
  });

  test('an operation refused before it runs gets one error message and no complete', async () => {
    const c = await connect();
    await c.init();
    c.send(subscribe('missing', `${prefix}-no-such-order`));
    const m = await c.take();
    assert.equal(m.type, 'error');
    assert.equal(m.id, 'missing');
    assert.equal(m.payload[0].extensions.code, 'NOT_FOUND');
    c.send({ id: 'v', type: 'subscribe', payload: { query: 'subscription { nope }' } });
    const v = await c.take();
    assert.equal(v.type, 'error');
    assert.equal(v.payload[0].extensions.code, 'GRAPHQL_VALIDATION_FAILED');
    await c.quiet();
    c.ws.close(1000);
  });

  test('ping gets pong with its payload, before and after connection_init', async () => {
    const c = await connect();
    await c.quiet();
    await c.init();
    await c.quiet();
    c.ws.close(1000);
  });
});

describe('the graphql-ws client', () => {
  const client = (token = TOKEN) => createClient({
    url: WS_URL,
    webSocketImpl: WebSocket,
    connectionParams: { Authorization: `Bearer ${token}` },
    retryAttempts: 0,
    lazy: true,
  });

  test('follows an order and stops on return (complete)', async () => {
    const ext = `${prefix}-client`;
    await createOrder(ext);
    const c = client();
    try {
      const it = c.iterate({ query: SUB, variables: { e: ext, u: USER_ID } });
      const seen = [];
      const first = await it.next();
      seen.push(first.value.data.orderUpdated);
      assert.deepEqual(seen[0], { status: 'DONE', eventId: 0 });
      const updated = updateOrder(ext, 3);
      for (;;) {
        const { value } = await it.next();
        const o = value.data.orderUpdated;
        seen.push(o);
        if (o.status === 'DONE' && o.eventId === 1) break;
      }
      await updated;
      await it.return(); // sends complete
      assert.deepEqual(seen.slice(1).map((o) => `${o.status} ${o.eventId}`).at(-1), 'DONE 1');
    } finally {
      await c.dispose();
    }
  });

  test('a missing order is an error with extensions.code', async () => {
    const c = client();
    try {
      const err = await new Promise((resolve) => c.subscribe(
        { query: SUB, variables: { e: `${prefix}-none`, u: USER_ID } },
        { next: () => resolve(new Error('unexpected next')), error: resolve, complete: () => resolve(new Error('unexpected complete')) }));
      assert.ok(Array.isArray(err), `want GraphQL errors, got ${err}`);
      assert.equal(err[0].extensions.code, 'NOT_FOUND');
    } finally {
      await c.dispose();
    }
  });

  test('an invalid token closes with 4403', async () => {
    const c = client('not-a-jwt');
    try {
      const err = await new Promise((resolve) => c.subscribe(
        { query: '{ __typename }' },
        { next: () => {}, error: resolve, complete: () => resolve(new Error('unexpected complete')) }));
      assert.equal(err.code, 4403, `got ${err.code} ${err.reason}`);
    } finally {
      await c.dispose();
    }
  });
});
