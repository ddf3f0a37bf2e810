// Schema tools against a running OrderStream API, through introspection:
// graphql-js's standard introspection query, GraphQL Code Generator
// (schema from the live endpoint, TypeScript compiled with tsc) and
// graphql-inspector (diff of the committed baseline against the endpoint).
//
// Run by e2e/tools_test.go, which starts the binaries and passes:
//   GRAPHQL_URL  the API's GraphQL endpoint, e.g. http://127.0.0.1:PORT/graphql
//   TOKEN        a bearer token
//   BASELINE     the path of graph/baseline.graphql
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { generate } from '@graphql-codegen/cli';
import { buildClientSchema, getIntrospectionQuery, printSchema } from 'graphql';

const env = (name) => {
  const v = process.env[name];
  assert.ok(v, `${name} must be set (run this through e2e/tools_test.go)`);
  return v;
};
const GRAPHQL_URL = env('GRAPHQL_URL');
const TOKEN = env('TOKEN');
const BASELINE = env('BASELINE');
const require = createRequire(import.meta.url);
const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'orderstream-tools-'));

async function post(query) {
  const res = await fetch(GRAPHQL_URL, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${TOKEN}` },
    body: JSON.stringify({ query }),
  });
  return res.json();
}

for (const [name, options] of Object.entries({
  'with the defaults': undefined,
  'with every option': {
    descriptions: true, specifiedByUrl: true, directiveIsRepeatable: true,
    schemaDescription: true, inputValueDeprecation: true, oneOf: true,
  },
})) {
  test(`getIntrospectionQuery ${name} is answered`, async () => {
    const body = await post(getIntrospectionQuery(options));
    assert.equal(body.errors, undefined, JSON.stringify(body.errors));
    const schema = buildClientSchema(body.data);
    assert.ok(schema.getType('Order'), printSchema(schema));
  });
}

test('introspection has its own depth limit', async () => {
  // 15 levels pass (above); ofType nested 30 deep does not.
  const deep = await post(`{ __type(name: "Order") { ${'ofType { '.repeat(30)} name ${'}'.repeat(30)} } }`);
  assert.equal(deep.errors?.[0]?.extensions?.code, 'QUERY_TOO_DEEP', JSON.stringify(deep));
});

test('GraphQL Code Generator builds TypeScript from the live endpoint, and tsc compiles it', async () => {
  const documents = join(dir, 'operations.graphql');
  writeFileSync(documents, `
    query Order($externalId: String!, $userId: ID!) {
      orderByExternalId(externalId: $externalId, userId: $userId) { id status total items { name quantity price } }
    }
    query Orders($userId: ID!, $first: Int, $after: String) {
      orders(userId: $userId, first: $first, after: $after) { edges { cursor node { id status createdAt } } pageInfo { hasNextPage endCursor } }
    }
    mutation Create($input: CreateOrderInput!) { createOrder(input: $input) { created order { id status } } }
    subscription Updated($externalId: String!, $userId: ID!) { orderUpdated(externalId: $externalId, userId: $userId) { status eventId } }
  `);
  const out = join(dir, 'generated.ts');
  await generate({
    schema: { [GRAPHQL_URL]: { headers: { Authorization: `Bearer ${TOKEN}` } } },
    documents,
    generates: {
      [out]: {
        // typescript-operations 6 writes the enums and input types it needs itself.
        plugins: ['typescript-operations'],
        config: { strictScalars: true, scalars: { Decimal: 'string', Time: 'string' } },
      },
    },
    silent: true,
  }, true);
  const ts = readFileSync(out, 'utf8');
  assert.match(ts, /export type OrderQuery = /);
  assert.match(ts, /export type OrderStatus =/);
  writeFileSync(join(dir, 'use.ts'), `
    import type { OrderQuery, CreateMutationVariables, UpdatedSubscription } from './generated';
    const q: OrderQuery = { orderByExternalId: { id: '1', status: 'DONE', total: '1.00', items: [{ name: 'A', quantity: 1, price: '1.00' }] } };
    const v: CreateMutationVariables = { input: { externalId: 'x', userId: 'u', items: [{ name: 'A', quantity: 1, price: '29.99' }] } };
    const u: UpdatedSubscription = { orderUpdated: { status: 'CANCELLED', eventId: 2 } };
    export const all = [q, v, u];
  `);
  const tsc = require.resolve('typescript/bin/tsc');
  await run(process.execPath, [tsc, '--noEmit', '--strict', '--target', 'es2022', '--module', 'nodenext',
    '--moduleResolution', 'nodenext', '--skipLibCheck', join(dir, 'generated.ts'), join(dir, 'use.ts')], { cwd: dir })
    .catch((err) => assert.fail(`tsc failed:\n${err.stdout}${err.stderr}`));
});

test('graphql-inspector diff: the live schema has no breaking change against the baseline, and only optional arguments as dangerous ones', async () => {
  const cli = require.resolve('@graphql-inspector/cli');
  const { stdout, stderr } = await run(process.execPath,
    [cli, 'diff', BASELINE, GRAPHQL_URL, '--header', `Authorization: Bearer ${TOKEN}`])
    .catch((err) => assert.fail(`graphql-inspector diff failed (exit ${err.code}):\n${err.stdout}${err.stderr}`));
  const output = stdout + stderr;
  // Additions are listed with ✔, dangerous changes with ⚠, breaking ones with ✖.
  assert.match(output, /No breaking changes detected|No changes detected/, output);
  assert.doesNotMatch(output, /✖/, output);
  // graphql-inspector calls a new optional argument dangerous (a client
  // that does not send it sees the old behaviour, so it is additive for us,
  // and graph/compat allows it); anything else it calls dangerous fails.
  for (const line of output.split('\n').filter((l) => l.includes('⚠'))) {
    assert.match(line, /Argument \w+: \w+ added to field \w+\.\w+$/, `a dangerous change other than a new optional argument:\n${line}`);
  }
  console.log(output);
});
