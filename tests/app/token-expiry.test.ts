/**
 * A token is checked at the upgrade and its socket does not outlive it (issue 14, finding 8): at `exp`
 * the server closes with 4001; the reconnecting client comes back with a fresh token from its
 * tokenProvider, or gives up without one. A deployment may require `aud`/`iss`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChatClient, ChatClientError, type CloseInfo } from '../../app/src/chat-client.js';
import { CloseCode } from '../../app/src/protocol.js';
import { ReconnectingChatClient } from '../../app/src/reconnecting-client.js';
import { mintToken } from '../../app/src/token.js';
import { startMariaDb, type ThrowawayMariaDb } from '../helpers/mariadb.js';
import { ALLOWED_ORIGIN, SECRET, startServer, testConfig } from './fixture.js';

let db: ThrowawayMariaDb;
let srv: Awaited<ReturnType<typeof startServer>>;
let strict: Awaited<ReturnType<typeof startServer>>;

beforeAll(async () => {
  db = await startMariaDb();
  srv = await startServer(testConfig(db, db.database));
  strict = await startServer(testConfig(db, db.database, { MESSENGER_JWT_AUDIENCE: 'chat.example.test', MESSENGER_JWT_ISSUER: 'https://api.example.test' }));
}, 120_000);

afterAll(async () => {
  await srv?.server.shutdown();
  await strict?.server.shutdown();
  await db?.stop();
});

describe('token lifetime', () => {
  it('closes a socket with 4001 when its token expires, not later', async () => {
    const c = await ChatClient.connect({ url: srv.url, token: await mintToken(SECRET, 'brief', 2), origin: ALLOWED_ORIGIN, timeoutMs: 5_000 });
    const started = Date.now();
    const info = await new Promise<CloseInfo>((resolve) => c.once('close', resolve));
    expect(info.code).toBe(CloseCode.TOKEN_EXPIRED);
    // exp has whole-second resolution: within its second, never before it.
    expect(Date.now() - started).toBeLessThan(3_500);
  });

  it('the reconnecting client comes back with a fresh token from its tokenProvider', async () => {
    let minted = 0;
    const c = await ReconnectingChatClient.connect({
      url: srv.url,
      origin: ALLOWED_ORIGIN,
      timeoutMs: 5_000,
      tokenProvider: async () => mintToken(SECRET, 'renewing', minted++ === 0 ? 2 : 300),
    });
    try {
      await c.join('renewals');
      const back = new Promise<{ gapMs: number }>((resolve) => c.once('reconnected', resolve));
      expect((await back).gapMs).toBeLessThan(2_000);
      expect(minted).toBe(2);
      const ack = await c.send('renewals', 'after renewal');
      expect(ack.id).toBeGreaterThan(0);
    } finally {
      await c.close();
    }
  });

  it('without a tokenProvider it gives up, saying why', async () => {
    const c = await ReconnectingChatClient.connect({ url: srv.url, origin: ALLOWED_ORIGIN, timeoutMs: 5_000, token: await mintToken(SECRET, 'stale', 2) });
    const gaveUp = new Promise<ChatClientError>((resolve) => c.once('give-up', resolve));
    expect((await gaveUp).message).toMatch(/token expired/);
  });

  it('a deployment that names an audience and issuer refuses tokens without them', async () => {
    const claims = { audience: 'chat.example.test', issuer: 'https://api.example.test' };
    const refused = ChatClient.connect({ url: strict.url, token: await mintToken(SECRET, 'x', 60), origin: ALLOWED_ORIGIN, timeoutMs: 5_000 });
    await expect(refused).rejects.toMatchObject({ status: 401 });
    const wrongAud = ChatClient.connect({ url: strict.url, token: await mintToken(SECRET, 'x', 60, { ...claims, audience: 'other' }), origin: ALLOWED_ORIGIN, timeoutMs: 5_000 });
    await expect(wrongAud).rejects.toMatchObject({ status: 401 });
    const ok = await ChatClient.connect({ url: strict.url, token: await mintToken(SECRET, 'x', 60, claims), origin: ALLOWED_ORIGIN, timeoutMs: 5_000 });
    await ok.close();
  });
});
