/** The web client in headless Debian Chromium (playwright-core, no browser download): two pages chat. */
import mysql from 'mysql2/promise';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintToken } from '../../app/src/token.js';
import { freePort, startMariaDb, type ThrowawayMariaDb } from '../helpers/mariadb.js';
import { SECRET, startServer, testConfig } from './fixture.js';

let db: ThrowawayMariaDb;
let srv: Awaited<ReturnType<typeof startServer>>;
let browser: Browser;
let port: number;

beforeAll(async () => {
  db = await startMariaDb();
  // The page's own origin must be on the allow-list like any browser origin, so fix the port first.
  port = await freePort();
  srv = await startServer(testConfig(db, db.database, { MESSENGER_PORT: String(port), MESSENGER_ALLOWED_ORIGINS: `http://127.0.0.1:${port}` }));
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

    // Restart the server; while it is down a message is stored (by another instance, say). Both pages
    // get 1001, reconnect with backoff and must catch up from their last id.
    await c.close();
    await srv.server.shutdown('restart');
    await expect.poll(() => a.textContent('#status')).toContain('disconnected (1001)');
    const conn = await mysql.createConnection({ host: '127.0.0.1', port: db.port, user: db.user, password: db.password, database: db.database });
    await conn.query('INSERT INTO messages (room, `user`, text, created_at) VALUES (?, ?, ?, ?)', ['web', 'carol', 'while you were away', new Date()]);
    await conn.end();
    srv = await startServer(testConfig(db, db.database, { MESSENGER_PORT: String(port), MESSENGER_ALLOWED_ORIGINS: `http://127.0.0.1:${port}` }));
    for (const p of [a, b]) {
      await expect.poll(() => p.locator('#messages li .text').allTextContents(), { timeout: 20_000 })
        .toEqual(['hi bob', 'hi alice <b>not bold</b>', 'while you were away']);
    }
    await expect.poll(() => a.textContent('#status')).toContain('connected to #web');
    await ctxA.close();
    await ctxB.close();
  });
});
