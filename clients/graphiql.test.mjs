// GraphiQL as a user sees it: Debian's headless Chromium (driven by
// playwright-core, no browser download) opens the page the API serves on /,
// runs orderByExternalId for an order created beforehand and reads the
// result pane. Every request must stay on the API's own host: the page has
// to work on an offline machine, and its Content-Security-Policy must not
// block anything it needs.
//
// Run by e2e/clients_test.go, which passes:
//   BASE_URL     the API, e.g. http://127.0.0.1:PORT
//   USER_ID      the user of the demo token the page was given
//   EXTERNAL_ID  an order of USER_ID
//   SCREENSHOT   where to save a screenshot of the page with the result
//   CHROMIUM     the browser (default /usr/bin/chromium)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';

const env = (name, def) => {
  const v = process.env[name] || def;
  assert.ok(v, `${name} must be set (run this through e2e/clients_test.go)`);
  return v;
};
const BASE_URL = env('BASE_URL');
const USER_ID = env('USER_ID');
const EXTERNAL_ID = env('EXTERNAL_ID');
const SCREENSHOT = env('SCREENSHOT');
const CHROMIUM = env('CHROMIUM', '/usr/bin/chromium');

test('GraphiQL runs orderByExternalId offline', async (t) => {
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true });
  t.after(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 1400, height: 800 } });

  const apiHost = new URL(BASE_URL).host;
  const foreign = [];
  const problems = [];
  page.on('request', (r) => {
    const u = new URL(r.url());
    if (u.protocol !== 'data:' && u.host !== apiHost) foreign.push(r.url());
  });
  page.on('websocket', (ws) => {
    if (new URL(ws.url()).host !== apiHost) foreign.push(ws.url());
  });
  // Refuse anything off the API's host, as an offline machine would.
  await page.route('**/*', (route) => {
    const u = new URL(route.request().url());
    return u.protocol === 'data:' || u.host === apiHost ? route.continue() : route.abort('internetdisconnected');
  });
  // Script errors and Content-Security-Policy violations show up here.
  page.on('console', (m) => { if (m.type() === 'error') problems.push(m.text()); });
  page.on('pageerror', (err) => problems.push(String(err)));

  const res = await page.goto(`${BASE_URL}/`);
  assert.equal(res.status(), 200);
  await page.locator('.graphiql-container').waitFor();
  const editor = page.locator('.graphiql-query-editor .CodeMirror');
  await editor.waitFor();

  // The demo token is prefilled in the headers editor.
  const headers = await page.locator('.graphiql-editor-tool .CodeMirror').last()
    .evaluate((el) => el.CodeMirror.getValue());
  assert.match(headers, /"Authorization": "Bearer [\w-]+\.[\w-]+\.[\w-]+"/);

  // Type the query, as a user would: select all, then type over it (the
  // editor closes brackets itself, so the text is set through CodeMirror
  // after a keystroke proves the editor has the focus).
  // The operation keeps the default query's name: GraphiQL sends the
  // operation name it parsed last, which may lag a programmatic edit.
  const query = `query OrderByExternalId { orderByExternalId(externalId: "${EXTERNAL_ID}", userId: "${USER_ID}") { externalId userId status total items { name quantity price } } }`;
  await editor.click();
  await page.keyboard.press('Control+A');
  await page.keyboard.type('#');
  await editor.evaluate((el, q) => el.CodeMirror.setValue(q), query);
  await page.locator('.graphiql-execute-button').click();

  const result = page.locator('.result-window');
  try {
    await result.getByText(EXTERNAL_ID).first().waitFor();
  } catch (err) {
    await page.screenshot({ path: SCREENSHOT });
    throw new Error(`no result on the page (screenshot ${SCREENSHOT}); console: ${JSON.stringify(problems)}; foreign requests: ${JSON.stringify(foreign)}`, { cause: err });
  }
  const text = await result.locator('.CodeMirror').evaluate((el) => el.CodeMirror.getValue());
  assert.deepEqual(JSON.parse(text), {
    data: {
      orderByExternalId: {
        externalId: EXTERNAL_ID,
        userId: USER_ID,
        status: 'DONE',
        total: '59.98',
        items: [{ name: 'Product A', quantity: 2, price: '29.99' }],
      },
    },
  });
  // What the user sees on the page, not only the editor's model.
  const visible = await result.innerText();
  assert.match(visible, /"status": "DONE"/);
  assert.match(visible, /"total": "59\.98"/);

  await page.screenshot({ path: SCREENSHOT });
  assert.deepEqual(foreign, [], 'requests to hosts other than the API');
  assert.deepEqual(problems, [], 'console errors (script errors, CSP violations)');
});
