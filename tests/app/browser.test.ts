/**
 * The web client in headless Debian Chromium (playwright-core, no browser download): two pages chat, ride
 * through a restart, and through a deploy behind a switchable proxy (nginx's upstream) without a visible outage.
 */
import { createServer, request as httpRequest } from 'node:http';
import { connect as netConnect } from 'node:net';
import mysql from 'mysql2/promise';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintToken } from '../../app/src/token.js';
import { loadStack } from '../../src/config/load.js';
import { buildHostModel } from '../../src/core/host-model.js';
import { OS_PROFILES } from '../../src/core/os-profiles.js';
import { siteView } from '../../src/core/render.js';
import { freePort, startMariaDb, type ThrowawayMariaDb } from '../helpers/mariadb.js';
import { startRedis } from '../helpers/redis.js';
import { SECRET, startServer, testConfig } from './fixture.js';
import { startProxy } from './proxy.js';

let db: ThrowawayMariaDb;
let srv: Awaited<ReturnType<typeof startServer>>;
let browser: Browser;
let port: number;

/** The server config of these tests: the page's own origin allowed, a short drain spread. */
function pageConfig() {
  return testConfig(db, db.database, { MESSENGER_PORT: String(port), MESSENGER_ALLOWED_ORIGINS: `http://127.0.0.1:${port}`, MESSENGER_DRAIN_SPREAD_MS: '300' });
}

beforeAll(async () => {
  db = await startMariaDb();
  // The page's own origin must be on the allow-list like any browser origin, so fix the port first.
  port = await freePort();
  srv = await startServer(pageConfig());
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

afterAll(async () => {
  await browser?.close();
  await srv?.server.shutdown('test end');
  await db?.stop();
});

describe('web client', () => {
  it('two pages exchange messages live, see history, and catch up after a reconnect', async () => {
    const ctxA = await browser.newContext();
    const ctxB = await browser.newContext();
    const a = await ctxA.newPage();
    const b = await ctxB.newPage();
    const tokA = await mintToken(SECRET, 'alice', 300);
    const tokB = await mintToken(SECRET, 'bob', 300);
    // Token from the URL fragment on one page, typed into the field on the other.
    await a.goto(`${srv.http}/#token=${tokA}&room=web`);
    await b.goto(`${srv.http}/`);
    await b.fill('#token', tokB);
    await b.fill('#room', 'web');
    await b.click('#join');
    await expect.poll(() => a.textContent('#status')).toContain('connected to #web');
    await expect.poll(() => b.textContent('#status')).toContain('connected to #web');
    expect(a.url()).not.toContain('token=');

    await a.fill('#text', 'hi bob');
    await a.press('#text', 'Enter');
    await expect.poll(() => b.locator('#messages li').allTextContents()).toEqual([expect.stringMatching(/alice\s*hi bob$/)]);
    await b.fill('#text', 'hi alice <b>not bold</b>');
    await b.click('#send');
    await expect.poll(() => a.locator('#messages li .text').allTextContents()).toEqual(['hi bob', 'hi alice <b>not bold</b>']);
    expect(await a.locator('#messages b').count()).toBe(0);

    // A third page joining later sees the history.
    const c = await ctxB.newPage();
    await c.goto(`${srv.http}/#token=${tokB}&room=web`);
    await expect.poll(() => c.locator('#messages li .text').allTextContents()).toEqual(['hi bob', 'hi alice <b>not bold</b>']);

    // Restart the server; while it is down a message is stored (by another instance, say) and one is typed
    // on page a. Both pages get 1012, say so once the outage lasts, reconnect with backoff, catch up from
    // their last id, and page a sends what it could not.
    await c.close();
    await srv.server.shutdown('restart');
    await expect.poll(() => a.textContent('#status'), { timeout: 5000 }).toContain('disconnected (1012); reconnecting');
    const conn = await mysql.createConnection({ host: '127.0.0.1', port: db.port, user: db.user, password: db.password, database: db.database });
    await conn.query('INSERT INTO messages (room, `user`, text, created_at) VALUES (?, ?, ?, ?)', ['web', 'carol', 'while you were away', new Date()]);
    await conn.end();
    await a.fill('#text', 'typed while away');
    await a.press('#text', 'Enter');
    srv = await startServer(pageConfig());
    for (const p of [a, b]) {
      await expect.poll(() => p.locator('#messages li .text').allTextContents(), { timeout: 20_000 })
        .toEqual(['hi bob', 'hi alice <b>not bold</b>', 'while you were away', 'typed while away']);
    }
    await expect.poll(() => a.textContent('#status')).toContain('connected to #web');
    await ctxA.close();
    await ctxB.close();
  });

  it("works under the Content-Security-Policy nginx sends with it: loads, connects, sends, and nothing is refused", async () => {
    const { contentSecurityPolicy } = siteView(buildHostModel(loadStack({ overrides: { tier: 'mvp', domain: 'chat.messenger.test', email: 'ops@messenger.test' } }), OS_PROFILES.debian13));
    expect(contentSecurityPolicy).toMatch(/default-src 'none'/);
    // nginx's part, on loopback: every response gets the rendered site's policy; upgrades pass through.
    await db.createDatabase('webcsp');
    const [front, back] = [await freePort(), await freePort()];
    const app = await startServer(testConfig(db, 'webcsp', { MESSENGER_PORT: String(back), MESSENGER_ALLOWED_ORIGINS: `http://127.0.0.1:${front}` }));
    const edge = createServer((req, res) => {
      const up = httpRequest({ host: '127.0.0.1', port: back, path: req.url, method: req.method, headers: req.headers }, (r) => {
        res.writeHead(r.statusCode ?? 502, { ...r.headers, 'content-security-policy': String(contentSecurityPolicy) });
        r.pipe(res);
      });
      req.pipe(up);
    });
    edge.on('upgrade', (req, socket, head) => {
      const up = netConnect(back, '127.0.0.1', () => {
        up.write(`${req.method} ${req.url} HTTP/1.1\r\n${Object.entries(req.headers).map(([k, v]) => `${k}: ${String(v)}`).join('\r\n')}\r\n\r\n`);
        up.write(head);
        up.pipe(socket).pipe(up);
      });
      for (const s of [socket, up]) s.on('error', () => socket.destroy());
    });
    await new Promise<void>((resolve) => edge.listen(front, '127.0.0.1', () => resolve()));
    const ctx = await browser.newContext();
    const refused: string[] = [];
    try {
      const page = await ctx.newPage();
      page.on('console', (m) => {
        if (/Content Security Policy|Refused to/i.test(m.text())) refused.push(m.text());
      });
      await page.goto(`http://127.0.0.1:${front}/#token=${await mintToken(SECRET, 'frank', 300)}&room=csp`);
      await expect.poll(() => page.textContent('#status')).toContain('connected to #csp');
      await page.fill('#text', 'under the policy');
      await page.press('#text', 'Enter');
      await expect.poll(() => page.locator('#messages li .text').allTextContents()).toEqual(['under the policy']);
      // The stylesheet was applied, not refused: style.css lays the body out as a flex column.
      expect(await page.evaluate('getComputedStyle(document.body).display')).toBe('flex');
      expect(refused).toEqual([]);
    } finally {
      await ctx.close();
      edge.closeAllConnections();
      await new Promise((resolve) => edge.close(resolve));
      await app.server.shutdown('test end');
    }
  });

  it('rides through a deploy: a message sent while the old release drains arrives once, and no outage shows', async () => {
    await db.createDatabase('webdeploy');
    const [pOld, pNew] = [await freePort(), await freePort()];
    const proxy = await startProxy(pOld);
    const release = (name: string, p: number) => startServer(testConfig(db, 'webdeploy', {
      MESSENGER_PORT: String(p),
      MESSENGER_INSTANCE: name,
      ...redis.env(),
      // The page's origin is the proxy's, as it would be nginx's.
      MESSENGER_ALLOWED_ORIGINS: `http://127.0.0.1:${proxy.port}`,
      MESSENGER_DRAIN_SPREAD_MS: '1000',
    }));
    // The old and the new release share messages over a real Redis, as on a host.
    const redis = await startRedis();
    const old = await release('old', pOld);
    let fresh: Awaited<ReturnType<typeof startServer>> | undefined;
    const contexts = await Promise.all([browser.newContext(), browser.newContext()]);
    try {
      const pages = await Promise.all(['dana', 'eve'].map(async (user, i) => {
        const p = await (contexts[i] as (typeof contexts)[0]).newPage();
        await p.goto(`http://127.0.0.1:${proxy.port}/#token=${await mintToken(SECRET, user, 300)}&room=deploy`);
        await expect.poll(() => p.textContent('#status')).toContain('connected to #deploy');
        // Every status the page shows from here on (a string: this file is compiled without the DOM types).
        await p.evaluate(`(() => {
          const el = document.getElementById('status');
          window.statuses = [];
          new MutationObserver(() => window.statuses.push(el.textContent)).observe(el, { childList: true, characterData: true, subtree: true });
        })()`);
        return p;
      }));
      const [dana, eve] = pages as [typeof pages[0], typeof pages[0]];
      await dana.fill('#text', 'before the deploy');
      await dana.press('#text', 'Enter');
      await expect.poll(() => eve.locator('#messages li .text').allTextContents()).toEqual(['before the deploy']);

      fresh = await release('new', pNew);
      await expect.poll(() => [old.server.bus?.state, fresh!.server.bus?.state]).toEqual(['up', 'up']);
      proxy.target = pNew;
      const stopping = old.server.shutdown('deploy');
      // Most likely refused with SHUTTING_DOWN and held until the page's 1012; sent again on the new release.
      await dana.fill('#text', 'during the deploy');
      await dana.press('#text', 'Enter');
      await stopping;
      for (const p of pages) {
        await expect.poll(() => p.locator('#messages li .text').allTextContents(), { timeout: 10_000 }).toEqual(['before the deploy', 'during the deploy']);
        await expect.poll(() => p.textContent('#status')).toContain('connected to #deploy');
        const statuses = (await p.evaluate('window.statuses')) as string[];
        expect(statuses.filter((t) => !t.startsWith('connected to'))).toEqual([]);
      }
      await expect.poll(() => fresh?.server.stats().connections).toBe(2);
    } finally {
      for (const c of contexts) await c.close();
      await proxy.close();
      await old.server.shutdown('test end');
      await fresh?.server.shutdown('test end');
      await redis.stop();
    }
  });
});
