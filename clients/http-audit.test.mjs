// GraphQL over HTTP conformance of the running OrderStream API: every
// audit of graphql-http's serverAudits (MUST, SHOULD and MAY) must be "ok";
// a "warn" (a SHOULD or MAY not met) fails like an "error". Then the rules
// the audits do not cover and docs/API.md promises: 406, 405 with Allow for
// a mutation over GET, batches refused by name, 413 for over-limit bodies
// with and without Content-Length.
//
// Run by e2e/conformance_test.go, which starts the binaries and passes:
//   GRAPHQL_URL  the API's GraphQL endpoint, e.g. http://127.0.0.1:PORT/graphql
//   TOKEN        a bearer token (authentication is on)
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { serverAudits } from 'graphql-http';

const env = (name) => {
  const v = process.env[name];
  assert.ok(v, `${name} must be set (run this through e2e/conformance_test.go)`);
  return v;
};
const GRAPHQL_URL = env('GRAPHQL_URL');
const TOKEN = env('TOKEN');

// authFetch is fetch with the bearer token: the audits' requests must
// reach GraphQL, not stop at the 401 of the authentication middleware.
function authFetch(input, init = {}) {
  const headers = new Headers(init.headers);
  headers.set('authorization', `Bearer ${TOKEN}`);
  return fetch(input, { ...init, headers });
}

const audits = serverAudits({ url: GRAPHQL_URL, fetchFn: authFetch });

test(`graphql-http serverAudits: ${audits.length} audits`, async (t) => {
  const results = [];
  for (const audit of audits) {
    await t.test(`${audit.id} ${audit.name}`, async () => {
      const result = await audit.fn();
      results.push(result);
      if (result.status !== 'ok') {
        let body = '';
        try {
          body = await result.response.text();
        } catch { /* already read */ }
        assert.fail(`${result.status}: ${result.reason}\n  HTTP ${result.response?.status} ` +
          `${result.response?.headers.get('content-type')} ${body}`);
      }
    });
  }
  const count = (s) => results.filter((r) => r.status === s).length;
  t.diagnostic(`ok ${count('ok')}, warn ${count('warn')}, error ${count('error')} of ${audits.length}`);
  assert.equal(count('ok'), audits.length);
});

// post sends a JSON body (a string, or a stream for a chunked body) with
// the token and returns status, headers and the decoded body.
async function post(body, headers = {}) {
  const init = { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body };
  if (typeof body !== 'string') init.duplex = 'half';
  const res = await authFetch(GRAPHQL_URL, init);
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    assert.fail(`HTTP ${res.status}: not JSON: ${text.slice(0, 200)}`);
  }
  return { status: res.status, headers: res.headers, json };
}

const code = (json) => json.errors?.[0]?.extensions?.code;

test('Accept without a GraphQL media type: 406 NOT_ACCEPTABLE', async () => {
  const r = await post(JSON.stringify({ query: '{ __typename }' }), { accept: 'application/xml' });
  assert.equal(r.status, 406);
  assert.equal(code(r.json), 'NOT_ACCEPTABLE');
  assert.match(r.headers.get('content-type'), /^application\/json/);
});

test('a mutation over GET: 405 METHOD_NOT_ALLOWED with Allow: POST', async () => {
  for (const accept of ['application/json', 'application/graphql-response+json']) {
    const u = new URL(GRAPHQL_URL);
    u.searchParams.set('query', 'mutation { __typename }');
    const res = await authFetch(u, { headers: { accept } });
    const json = await res.json();
    assert.equal(res.status, 405, accept);
    assert.equal(res.headers.get('allow'), 'POST');
    assert.equal(code(json), 'METHOD_NOT_ALLOWED');
    assert.equal('data' in json, false, 'a request error has no data entry');
  }
});

test('a batch (JSON array) is refused as a batch', async () => {
  const r = await post(JSON.stringify([{ query: '{ __typename }' }, { query: '{ __typename }' }]));
  assert.equal(r.status, 400);
  assert.equal(code(r.json), 'BAD_REQUEST');
  assert.match(r.json.errors[0].message, /batching is not supported/);
});

test('request errors: 200 with application/json, 400 with graphql-response+json, never "data"', async () => {
  const invalid = JSON.stringify({ query: '{ noSuchField }' });
  const legacy = await post(invalid, { accept: 'application/json' });
  assert.equal(legacy.status, 200);
  assert.equal(code(legacy.json), 'GRAPHQL_VALIDATION_FAILED');
  assert.equal('data' in legacy.json, false);
  const modern = await post(invalid, { accept: 'application/graphql-response+json' });
  assert.equal(modern.status, 400);
  assert.match(modern.headers.get('content-type'), /^application\/graphql-response\+json/);
  assert.equal('data' in modern.json, false);
});

test('over-limit bodies: 413 PAYLOAD_TOO_LARGE, with Content-Length and chunked', async () => {
  const big = JSON.stringify({ query: '{ __typename }', pad: 'a'.repeat(2 << 20) });
  const sized = await post(big);
  assert.equal(sized.status, 413);
  assert.equal(code(sized.json), 'PAYLOAD_TOO_LARGE');

  const bytes = new TextEncoder().encode(big);
  const chunked = await post(new ReadableStream({
    start(c) {
      for (let i = 0; i < bytes.length; i += 64 << 10) c.enqueue(bytes.subarray(i, i + (64 << 10)));
      c.close();
    },
  }));
  assert.equal(chunked.status, 413);
  assert.equal(code(chunked.json), 'PAYLOAD_TOO_LARGE');
});
