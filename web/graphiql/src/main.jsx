// The GraphiQL page of OrderStream. The API serves it on / (GRAPHIQL=true,
// the default outside production) with everything bundled: no CDN, so it
// works offline. The page passes its configuration in data attributes of
// #graphiql (the Content-Security-Policy forbids inline scripts):
//   data-endpoint  the GraphQL path, e.g. /graphql
//   data-sdl       the path of the published SDL (GraphiQL's schema, so the
//                  page works even where introspection is off)
//   data-headers   the initial request headers as JSON (in development the
//                  demo bearer token of `make run`; never in production)
import React from 'react';
import { createRoot } from 'react-dom/client';
import { GraphiQL } from 'graphiql';
import { buildSchema, getOperationAST, parse } from 'graphql';
import { createClient } from 'graphql-ws';
import 'graphiql/graphiql.css';
import './page.css';

const root = document.getElementById('graphiql');
const endpoint = root.dataset.endpoint || '/graphql';
const sdlPath = root.dataset.sdl || '';
const initialHeaders = root.dataset.headers || '';

const wsURL = new URL(endpoint, window.location.href);
wsURL.protocol = wsURL.protocol === 'https:' ? 'wss:' : 'ws:';

// One graphql-ws client per Authorization header: the token travels in
// connectionParams (browsers cannot set headers on a WebSocket), so a new
// token in the headers editor opens a new connection.
let ws = null;
function wsClient(authorization) {
  if (ws && ws.authorization === authorization) return ws.client;
  if (ws) ws.client.dispose();
  const client = createClient({
    url: wsURL.toString(),
    lazy: true,
    connectionParams: authorization ? { Authorization: authorization } : {},
  });
  ws = { authorization, client };
  return client;
}

function headerValue(headers, name) {
  for (const [k, v] of Object.entries(headers || {})) {
    if (k.toLowerCase() === name) return String(v);
  }
  return '';
}

function isSubscription(params) {
  try {
    const op = getOperationAST(parse(params.query), params.operationName || undefined);
    return op && op.operation === 'subscription';
  } catch {
    return false; // let the server report the syntax error
  }
}

// fetcher sends queries and mutations as POST, and subscriptions over
// graphql-transport-ws on the same endpoint.
async function fetcher(params, opts) {
  const headers = (opts && opts.headers) || {};
  if (isSubscription(params)) {
    return wsClient(headerValue(headers, 'authorization')).iterate(params);
  }
  const res = await fetch(endpoint, {
    method: 'POST',
    headers: { Accept: 'application/json', 'Content-Type': 'application/json', ...headers },
    body: JSON.stringify(params),
  });
  return res.json();
}

const defaultQuery = `# OrderStream GraphiQL. Queries and mutations go to ${endpoint},
# subscriptions over WebSocket (graphql-transport-ws) to the same path.
# Every request needs "Authorization: Bearer <JWT>" (see the Headers tab).

query OrderByExternalId($externalId: String!, $userId: ID!) {
  orderByExternalId(externalId: $externalId, userId: $userId) {
    id externalId status eventId total
    items { name quantity price }
  }
}
`;

async function main() {
  let schema;
  if (sdlPath) {
    try {
      const res = await fetch(sdlPath);
      if (res.ok) schema = buildSchema(await res.text());
    } catch (err) {
      console.warn('GraphiQL: the SDL could not be loaded, falling back to introspection', err);
    }
  }
  createRoot(root).render(
    React.createElement(GraphiQL, {
      fetcher,
      schema,
      defaultQuery,
      // The initial headers replace stored ones, so a fresh demo token wins.
      headers: initialHeaders || undefined,
      defaultEditorToolsVisibility: initialHeaders ? 'headers' : false,
      shouldPersistHeaders: false,
    }),
  );
}

main();
