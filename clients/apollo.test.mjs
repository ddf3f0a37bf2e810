// The real Apollo Client against a running OrderStream API: automatic
// persisted queries (PersistedQueryLink, hashed queries over GET), errors
// with extensions.code, a CORS preflight, create / update / cancel / look
// up / list with pagination, and the status changes of an order by
// subscription (graphql-ws).
//
// Run by e2e/clients_test.go, which starts the binaries and passes:
//   GRAPHQL_URL  the API's GraphQL endpoint, e.g. http://127.0.0.1:PORT/graphql
//   TOKEN        a bearer token of USER_ID
//   USER_ID      the token's user
//   CORS_ORIGIN  a browser origin the API allows (CORS_ALLOWED_ORIGINS)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';

import { ApolloClient, ApolloLink, HttpLink, InMemoryCache, CombinedGraphQLErrors, gql } from '@apollo/client';
import { PersistedQueryLink } from '@apollo/client/link/persisted-queries';
import { GraphQLWsLink } from '@apollo/client/link/subscriptions';
import { getMainDefinition } from '@apollo/client/utilities';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

const env = (name) => {
  const v = process.env[name];
  assert.ok(v, `${name} must be set (run this through e2e/clients_test.go)`);
  return v;
};
const GRAPHQL_URL = env('GRAPHQL_URL');
const TOKEN = env('TOKEN');
const USER_ID = env('USER_ID');
const CORS_ORIGIN = env('CORS_ORIGIN');
const WS_URL = GRAPHQL_URL.replace(/^http/, 'ws');

// requests records what went over HTTP, to check the APQ protocol.
const requests = [];
async function recordingFetch(url, init = {}) {
  const res = await fetch(url, init);
  const u = new URL(url);
  let sent = {};
  if ((init.method || 'GET') === 'GET') {
    sent = {
      query: u.searchParams.get('query'),
      extensions: JSON.parse(u.searchParams.get('extensions') || 'null'),
    };
  } else if (typeof init.body === 'string') {
    sent = JSON.parse(init.body);
  }
  requests.push({
    method: init.method || 'GET',
    status: res.status,
    hasQuery: typeof sent.query === 'string' && sent.query.length > 0,
    hash: sent.extensions?.persistedQuery?.sha256Hash,
    response: await res.clone().json(),
  });
  return res;
}

const sha256 = (s) => createHash('sha256').update(s).digest('hex');

const wsClient = createClient({
  url: WS_URL,
  webSocketImpl: WebSocket,
  connectionParams: { Authorization: `Bearer ${TOKEN}` },
  lazy: true,
  retryAttempts: 0,
});

// The link chain an Apollo web app uses: subscriptions over graphql-ws,
// everything else over HTTP with automatic persisted queries, hashed
// queries as GET (cacheable by CDNs and browsers).
const httpLink = ApolloLink.from([
  new PersistedQueryLink({ sha256, useGETForHashedQueries: true }),
  new HttpLink({ uri: GRAPHQL_URL, fetch: recordingFetch, headers: { Authorization: `Bearer ${TOKEN}` } }),
]);
const link = ApolloLink.split(
  ({ query }) => {
    const def = getMainDefinition(query);
    return def.kind === 'OperationDefinition' && def.operation === 'subscription';
  },
  new GraphQLWsLink(wsClient),
  httpLink,
);
const client = new ApolloClient({
  link,
  cache: new InMemoryCache(),
  defaultOptions: { query: { fetchPolicy: 'no-cache' }, mutate: { fetchPolicy: 'no-cache' } },
});

test.after(() => wsClient.dispose());

const ORDER = gql`
  fragment OrderFields on Order {
    id externalId userId status eventId total cancelReason
    items { name quantity price }
  }
`;
const CREATE = gql`
  mutation Create($in: CreateOrderInput!) { createOrder(input: $in) { created order { ...OrderFields } } }
  ${ORDER}
`;
const UPDATE = gql`
  mutation Update($in: UpdateOrderInput!) { updateOrder(input: $in) { order { ...OrderFields } } }
  ${ORDER}
`;
const CANCEL = gql`
  mutation Cancel($in: CancelOrderInput!) { cancelOrder(input: $in) { order { ...OrderFields } } }
  ${ORDER}
`;
const BY_EXTERNAL_ID = gql`
  query ByExternalId($externalId: String!, $userId: ID!) {
    orderByExternalId(externalId: $externalId, userId: $userId) { ...OrderFields }
  }
  ${ORDER}
`;
const LIST = gql`
  query List($userId: ID!, $first: Int, $after: String) {
    orders(userId: $userId, first: $first, after: $after) {
      edges { cursor node { externalId status } }
      pageInfo { hasNextPage endCursor }
    }
  }
`;

const prefix = `apollo-${randomUUID().slice(0, 8)}`;
const create = async (externalId, items) =>
  (await client.mutate({ mutation: CREATE, variables: { in: { externalId, userId: USER_ID, items } } })).data.createOrder;

// gqlCode returns the extensions.code of the first GraphQL error of a
// rejected Apollo operation.
async function gqlCode(promise) {
  try {
    await promise;
  } catch (err) {
    assert.ok(CombinedGraphQLErrors.is(err), `want GraphQL errors, got ${err}`);
    for (const e of err.errors) {
      assert.equal(typeof e.extensions?.code, 'string', `error without extensions.code: ${JSON.stringify(e)}`);
    }
    return err.errors[0].extensions.code;
  }
  assert.fail('the operation succeeded; want an error');
}

test('create, update, cancel and look up an order', async () => {
  const ext = `${prefix}-life`;
  const created = await create(ext, [{ name: 'Product A', quantity: 2, price: '29.99' }]);
  assert.equal(created.created, true);
  assert.equal(created.order.status, 'DONE');
  assert.equal(created.order.eventId, 0);
  assert.equal(created.order.total, '59.98');
  assert.equal(created.order.userId, USER_ID);

  const again = await create(ext, [{ name: 'Product A', quantity: 2, price: 29.99 }]);
  assert.equal(again.created, false, 'the same create again is idempotent');
  assert.equal(again.order.id, created.order.id);

  const updated = (await client.mutate({
    mutation: UPDATE,
    variables: { in: { externalId: ext, userId: USER_ID, expectedEventId: 0, items: [{ name: 'Product B', quantity: 1, price: '10.50' }] } },
  })).data.updateOrder.order;
  assert.equal(updated.eventId, 1);
  assert.equal(updated.total, '10.50');
  assert.deepEqual(updated.items.map(({ name, quantity, price }) => ({ name, quantity, price })),
    [{ name: 'Product B', quantity: 1, price: '10.50' }]);

  const cancelled = (await client.mutate({
    mutation: CANCEL, variables: { in: { externalId: ext, userId: USER_ID, reason: 'out of stock' } },
  })).data.cancelOrder.order;
  assert.equal(cancelled.status, 'CANCELLED');
  assert.equal(cancelled.eventId, 2);
  assert.equal(cancelled.cancelReason, 'out of stock');

  const { data } = await client.query({ query: BY_EXTERNAL_ID, variables: { externalId: ext, userId: USER_ID } });
  assert.equal(data.orderByExternalId.id, created.order.id);
  assert.equal(data.orderByExternalId.status, 'CANCELLED');
  assert.equal(data.orderByExternalId.eventId, 2);

  const missing = await client.query({ query: BY_EXTERNAL_ID, variables: { externalId: `${prefix}-none`, userId: USER_ID } });
  assert.equal(missing.data.orderByExternalId, null);
});

test('errors carry extensions.code', async () => {
  assert.equal(await gqlCode(client.mutate({
    mutation: UPDATE,
    variables: { in: { externalId: `${prefix}-none`, userId: USER_ID, items: [{ name: 'x', quantity: 1, price: '1' }] } },
  })), 'NOT_FOUND');
  assert.equal(await gqlCode(client.mutate({
    mutation: CREATE,
    variables: { in: { externalId: `${prefix}-bad`, userId: USER_ID, items: [{ name: 'x', quantity: 0, price: '1' }] } },
  })), 'BAD_USER_INPUT');
  assert.equal(await gqlCode(client.mutate({
    mutation: CREATE,
    variables: { in: { externalId: `${prefix}-other`, userId: randomUUID(), items: [{ name: 'x', quantity: 1, price: '1' }] } },
  })), 'FORBIDDEN');
});

test('list with pagination', async () => {
  // A fresh user's view would be cleaner, but the token is one user's: list
  // pages until every order created here has been seen, newest first.
  const exts = [];
  for (let i = 0; i < 5; i++) {
    const ext = `${prefix}-list-${i}`;
    await create(ext, [{ name: `Item ${i}`, quantity: 1, price: '1.00' }]);
    exts.push(ext);
  }
  const seen = [];
  let after = null;
  let pages = 0;
  for (;;) {
    const { data } = await client.query({ query: LIST, variables: { userId: USER_ID, first: 2, after } });
    const conn = data.orders;
    pages++;
    assert.ok(conn.edges.length <= 2, `page of ${conn.edges.length} edges; want at most 2`);
    seen.push(...conn.edges.map((e) => e.node.externalId));
    if (conn.edges.length > 0) assert.equal(conn.pageInfo.endCursor, conn.edges.at(-1).cursor);
    if (!conn.pageInfo.hasNextPage) break;
    after = conn.pageInfo.endCursor;
    assert.ok(pages < 100, 'pagination does not end');
  }
  assert.equal(new Set(seen).size, seen.length, `an order appeared twice: ${seen}`);
  const mine = seen.filter((e) => exts.includes(e));
  assert.deepEqual(mine, [...exts].reverse(), 'newest first, each once');
  assert.ok(pages >= 3, `${pages} pages for at least 5 orders at 2 per page`);
});

test('automatic persisted queries: hashed GET, PERSISTED_QUERY_NOT_FOUND, retry with the query', async () => {
  const ext = `${prefix}-apq`;
  await create(ext, [{ name: 'Product A', quantity: 1, price: '5.00' }]);
  // A query text no earlier test sent, so the server has not stored it.
  const query = gql`
    query ApqProbe($externalId: String!, $userId: ID!) { orderByExternalId(externalId: $externalId, userId: $userId) { externalId status total } }
  `;
  const vars = { externalId: ext, userId: USER_ID };

  requests.length = 0;
  const first = await client.query({ query, variables: vars });
  assert.deepEqual(first.data.orderByExternalId, { __typename: 'Order', externalId: ext, status: 'DONE', total: '5.00' });
  assert.equal(requests.length, 2, `want a hashed GET then a retry; got ${JSON.stringify(requests)}`);
  const [miss, retry] = requests;
  assert.equal(miss.method, 'GET', 'a hashed query goes as GET');
  assert.equal(miss.hasQuery, false, 'the first request carries only the hash');
  assert.match(miss.hash, /^[0-9a-f]{64}$/);
  assert.equal(miss.status, 200);
  assert.equal(miss.response.errors?.[0]?.extensions?.code, 'PERSISTED_QUERY_NOT_FOUND');
  assert.equal(miss.response.errors?.[0]?.message, 'PersistedQueryNotFound');
  assert.equal(retry.hasQuery, true, 'the retry carries the query');
  assert.equal(retry.hash, miss.hash);
  assert.equal(retry.response.errors, undefined);

  requests.length = 0;
  const second = await client.query({ query, variables: vars });
  assert.deepEqual(second.data, first.data);
  assert.equal(requests.length, 1, `want one hashed GET; got ${JSON.stringify(requests)}`);
  assert.equal(requests[0].method, 'GET');
  assert.equal(requests[0].hasQuery, false);
  assert.equal(requests[0].hash, miss.hash);
  assert.equal(requests[0].response.errors, undefined);
});

test('CORS preflight from an allowed origin', async () => {
  const res = await fetch(GRAPHQL_URL, {
    method: 'OPTIONS',
    headers: {
      Origin: CORS_ORIGIN,
      'Access-Control-Request-Method': 'POST',
      'Access-Control-Request-Headers': 'authorization,content-type',
    },
  });
  assert.ok(res.status === 200 || res.status === 204, `preflight status ${res.status}`);
  assert.equal(res.headers.get('access-control-allow-origin'), CORS_ORIGIN);
  const allowed = (res.headers.get('access-control-allow-headers') || '').toLowerCase();
  assert.match(allowed, /authorization/);
  assert.match(allowed, /content-type/);
  assert.equal(res.headers.get('access-control-allow-credentials'), null);
});

test('the status changes of an order by subscription (graphql-ws)', async (t) => {
  const ext = `${prefix}-sub`;
  await create(ext, [{ name: 'Product A', quantity: 1, price: '1.00' }]);

  const SUB = gql`
    subscription OrderUpdated($externalId: String!, $userId: ID!) {
      orderUpdated(externalId: $externalId, userId: $userId) { externalId status eventId total }
    }
  `;
  // events buffers what the subscription delivers; next(pred) waits for
  // the first event matching pred.
  const events = [];
  let wake = () => {};
  let failed = null;
  const sub = client.subscribe({ query: SUB, variables: { externalId: ext, userId: USER_ID } }).subscribe({
    next: (r) => {
      if (r.error) failed = r.error;
      else events.push(r.data.orderUpdated);
      wake();
    },
    error: (err) => { failed = err; wake(); },
  });
  t.after(() => sub.unsubscribe());
  const next = async (pred, ms) => {
    const deadline = Date.now() + ms;
    for (;;) {
      if (failed) throw failed;
      const e = events.find(pred);
      if (e) return e;
      const left = deadline - Date.now();
      if (left <= 0) return null;
      let timer;
      await new Promise((resolve) => { wake = resolve; timer = setTimeout(resolve, left); });
      clearTimeout(timer); // a pending timer would keep node running
    }
  };

  // The subscription is live once it has delivered an event; until then an
  // update may commit before the server registered it, so update again.
  let eventId = 0;
  let live = null;
  for (let i = 0; i < 20 && !live; i++) {
    const r = await client.mutate({
      mutation: UPDATE,
      variables: { in: { externalId: ext, userId: USER_ID, items: [{ name: 'Product A', quantity: i + 2, price: '1.00' }] } },
    });
    eventId = r.data.updateOrder.order.eventId;
    live = await next((e) => e.eventId >= eventId && e.status === 'DONE', 2000);
  }
  assert.ok(live, `no subscription event after 20 updates; got ${JSON.stringify(events)}`);
  assert.equal(live.externalId, ext);

  const cancelled = await client.mutate({ mutation: CANCEL, variables: { in: { externalId: ext, userId: USER_ID, reason: 'by subscription test' } } });
  const last = await next((e) => e.status === 'CANCELLED', 30000);
  assert.ok(last, `no CANCELLED event; got ${JSON.stringify(events)}`);
  assert.equal(last.eventId, cancelled.data.cancelOrder.order.eventId);
  // Events arrive in order: eventIds never go down.
  for (let i = 1; i < events.length; i++) {
    assert.ok(events[i].eventId >= events[i - 1].eventId, `events out of order: ${JSON.stringify(events)}`);
  }
});
