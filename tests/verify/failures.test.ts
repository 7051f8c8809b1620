// Every way the real-time path breaks, on a real local stack, each caught by the right check with the
// right cause: nginx without the Upgrade headers, proxy_read_timeout shorter than the idle window,
// certificates from an untrusted CA / for the wrong name / about to expire, no redirect, the app stopped
// behind a running nginx, a wrong token, an app that lets foreign Origins in.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintToken } from '../../app/src/token.js';
import { runVerify, type CheckResult, type VerifyOptions, type VerifyReport } from '../../src/verify/index.js';
import { renderTable } from '../../src/verify/report.js';
import { STACK_ORIGIN, startChatBackend, verifyOptionsFor, startProxy, type ChatBackend, type Proxy, type ProxyVariant } from '../helpers/local-stack.js';

let backend: ChatBackend;
beforeAll(async () => {
  // No server ping in the first 120 s (an hour's thirtieth): a ping would reset nginx's 3 s
  // proxy_read_timeout in the idle test below and hide the misconfiguration it shows.
  backend = await startChatBackend({ pingIntervalMs: 3_600_000 });
});
afterAll(async () => {
  await backend?.stop();
});

function options(proxy: Proxy, patch: Partial<VerifyOptions> = {}): VerifyOptions {
  return verifyOptionsFor(backend, proxy, patch);
}

/** Runs verify against a fresh nginx variant (stopped afterwards) and prints the table for the log. */
async function verifyVariant(variant: ProxyVariant, patch: Partial<VerifyOptions> = {}, target = backend): Promise<VerifyReport> {
  const proxy = await startProxy(target, variant);
  try {
    const report = await runVerify(options(proxy, patch));
    process.stdout.write(`--- variant ${JSON.stringify(variant)}\n${renderTable(report)}\n`);
    return report;
  } finally {
    await proxy.stop();
  }
}

const failed = (r: VerifyReport): string[] => r.checks.filter((c) => c.status === 'fail').map((c) => c.id);
const check = (r: VerifyReport, id: string): CheckResult => r.checks.find((c) => c.id === id)!;

describe('verify catches a broken real-time path', () => {
  it('nginx without the Upgrade/Connection headers: ws.upgrade fails with the status the app saw', async () => {
    const r = await verifyVariant({ upgradeHeaders: false });
    expect(failed(r)).toEqual(['ws.upgrade']);
    const c = check(r, 'ws.upgrade');
    expect(c.code).toBe('MI_ERR_VERIFY_UPGRADE');
    expect(c.cause).toMatch(/^nginx is not forwarding the Upgrade header: got 404 instead of 101 on \/ws \(the site needs proxy_http_version 1\.1, proxy_set_header Upgrade/);
    // Health still passes: the cause is the WebSocket path, not the app.
    expect(check(r, 'http.healthz').status).toBe('pass');
    expect(check(r, 'msg.broadcast').cause).toBe('not run: ws.upgrade failed');
    expect(r.exitCode).toBe(4);
  });

  it('proxy_read_timeout (3 s) shorter than the idle window (5 s): ws.idle fails after about 3 s', async () => {
    const r = await verifyVariant({ readTimeoutS: 3 }, { quick: false, idleSeconds: 5 });
    expect(failed(r)).toEqual(['ws.idle']);
    const c = check(r, 'ws.idle');
    expect(c.code).toBe('MI_ERR_VERIFY_IDLE');
    expect(c.cause).toMatch(/^the idle connection was closed after 3\.\d s \(code 1006\), before the 5 s window: .*raise nginx proxy_read_timeout/);
    expect(c.data!.closedAfterMs).toBeGreaterThanOrEqual(2900);
    expect(c.data!.closedAfterMs).toBeLessThan(5000);
  });

  it('the same idle window passes with the product timeout', async () => {
    const r = await verifyVariant({}, { quick: false, idleSeconds: 5 });
    expect(check(r, 'ws.idle').status).toBe('pass');
    expect(r.exitCode).toBe(0);
  });

  it('a certificate from an untrusted CA: tls.chain fails naming the issuer, the WebSocket checks are not run', async () => {
    const r = await verifyVariant({ cert: 'untrusted' });
    expect(failed(r)).toEqual(['tls.chain']);
    const c = check(r, 'tls.chain');
    expect(c.code).toBe('MI_ERR_VERIFY_TLS_UNTRUSTED');
    expect(c.cause).toMatch(/^the certificate is issued by "rogue test root", which is not a trusted CA \((UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)\): it chains to none of the system roots nor the --ca roots given$/);
    expect(check(r, 'ws.upgrade').cause).toBe('not run: tls.chain failed');
    expect(check(r, 'http.healthz').status).toBe('skip');
    expect(r.exitCode).toBe(4);
  });

  it('our own test CA without --ca is just as untrusted, and the cause says how to fix it', async () => {
    const r = await verifyVariant({}, { caPaths: undefined });
    expect(failed(r)).toEqual(['tls.chain']);
    expect(check(r, 'tls.chain').cause).toMatch(/not a trusted CA .*pass --ca FILE for a private CA$/);
  });

  it('a certificate for the wrong name: tls.chain fails naming both names', async () => {
    const r = await verifyVariant({ cert: 'wrong-name' });
    expect(failed(r)).toEqual(['tls.chain']);
    const c = check(r, 'tls.chain');
    expect(c.code).toBe('MI_ERR_VERIFY_TLS_NAME');
    expect(c.cause).toMatch(/^the certificate is for wrong\.verify\.test, not chat\.verify\.test: issue one for chat\.verify\.test/);
  });

  it('a certificate expiring in 5 days fails tls.expiry; in 15 days it warns', async () => {
    const soon = await verifyVariant({ cert: 'expiring-5d' });
    expect(failed(soon)).toEqual(['tls.expiry']);
    expect(check(soon, 'tls.expiry').cause).toMatch(/^the certificate expires in 4 days \(\d{4}-\d\d-\d\d\): renewal is not working/);
    expect(soon.exitCode).toBe(4);
    const later = await verifyVariant({ cert: 'expiring-15d' });
    expect(failed(later)).toEqual([]);
    expect(check(later, 'tls.expiry')).toMatchObject({ status: 'warn', figure: expect.stringMatching(/^14 days left/) });
    expect(later.exitCode).toBe(0);
  });

  it('http:// serving the app instead of redirecting: http.redirect fails', async () => {
    const r = await verifyVariant({ redirect: false });
    expect(failed(r)).toEqual(['http.redirect']);
    expect(check(r, 'http.redirect').cause).toMatch(/^http:\/\/ answered 200 instead of redirecting to https:\/\/: add "return 301 https:\/\/\$host\$request_uri;"/);
  });

  it('a wrong token: ws.upgrade fails with 401 and says which secret to check', async () => {
    const wrong = await mintToken('another-secret-another-secret-another', 'ci', 60);
    const r = await verifyVariant({}, { token: wrong, jwtSecret: undefined });
    expect(failed(r)).toEqual(['ws.upgrade']);
    expect(check(r, 'ws.upgrade')).toMatchObject({ code: 'MI_ERR_VERIFY_AUTH' });
    expect(check(r, 'ws.upgrade').cause).toMatch(/^the server refused the token \(401\): it is not signed with the server's MESSENGER_JWT_SECRET/);
  });

  it('an Origin the server does not allow: ws.upgrade fails with 403 naming the Origin', async () => {
    const r = await verifyVariant({}, { origin: 'https://not-allowed.verify.test' });
    expect(failed(r)).toEqual(['ws.upgrade']);
    expect(check(r, 'ws.upgrade').cause).toBe('the server refused Origin https://not-allowed.verify.test (403): add it to MESSENGER_ALLOWED_ORIGINS');
  });

  it('an app that lets any Origin in: ws.reject-origin fails', async () => {
    const foreign = 'https://foreign-origin.verify.invalid';
    const loose = await backend.startExtraApp({ MESSENGER_ALLOWED_ORIGINS: `${STACK_ORIGIN},${foreign}` });
    try {
      const r = await verifyVariant({}, {}, { ...backend, appPort: loose.appPort });
      expect(failed(r)).toEqual(['ws.reject-origin']);
      expect(check(r, 'ws.reject-origin').cause).toBe(`the server accepted a WebSocket with Origin ${foreign}: it must answer 403 before upgrading`);
    } finally {
      await loose.stop();
    }
  });

  it('the app stopped behind a running nginx: health and upgrade fail with 502, TLS still passes', async () => {
    await backend.stopApp();
    try {
      const r = await verifyVariant({});
      expect(failed(r)).toEqual(['http.healthz', 'http.readyz', 'ws.upgrade']);
      expect(check(r, 'tls.chain').status).toBe('pass');
      expect(check(r, 'http.healthz').cause).toBe('nginx answered 502 Bad Gateway on /healthz: the chat server behind it is not running or not listening on the upstream address');
      expect(check(r, 'ws.upgrade')).toMatchObject({ code: 'MI_ERR_VERIFY_UPSTREAM', cause: 'nginx answered 502 Bad Gateway on /ws: the chat server behind it is not running or not listening on the upstream address' });
      expect(r.reachable).toBe(true);
      expect(r.exitCode).toBe(4);
    } finally {
      await backend.startApp();
    }
  });
});

describe('verify names the limits and the database', () => {
  it('nginx worker_connections too low for N connections: ws.concurrency fails, counting the failures', async () => {
    const r = await verifyVariant({ workerConnections: 24 }, { connections: 40 });
    expect(failed(r)).toEqual(['ws.concurrency']);
    const c = check(r, 'ws.concurrency');
    expect(c.code).toBe('MI_ERR_VERIFY_CONCURRENCY');
    expect(c.cause).toMatch(/^\d+\/40 concurrent connections failed \(.+\): raise nginx worker_connections/);
    expect(Number(c.data!.upgraded)).toBeLessThan(40);
  });

  it('the database unreachable: /readyz fails while /healthz passes, and sending names MariaDB', async () => {
    const { freePort } = await import('../helpers/mariadb.js');
    const deadDb = await freePort();
    const app = await backend.startExtraApp({ MESSENGER_DB_PORT: String(deadDb) }, '/healthz');
    try {
      const r = await verifyVariant({}, {}, { ...backend, appPort: app.appPort });
      expect(check(r, 'http.healthz').status).toBe('pass');
      expect(check(r, 'http.readyz').cause).toBe('503 Service Unavailable on /readyz: the chat server is up but not ready (database unreachable?)');
      expect(failed(r)).toContain('http.readyz');
      expect(r.exitCode).toBe(4);
    } finally {
      await app.stop();
    }
  });
});
