/**
 * The local ACME CA: Pebble for the ACME protocol and pebble-challtestsrv as its DNS, which answers
 * every name with 127.0.0.1, so HTTP-01 validation reaches the guest's nginx on the host's port 80.
 */
import { request } from 'node:https';
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import {
  ACME_DIRECTORY,
  CHALLTESTSRV_DNS_PORT,
  CHALLTESTSRV_MGMT_PORT,
  PEBBLE_ACME_PORT,
  PEBBLE_MGMT_PORT,
} from './constants.js';
import { SandboxError } from './errors.js';
import { run } from './exec.js';
import { isAlive, spawnDetached, type ProcRef } from './procs.js';

export interface PebblePaths {
  dir: string;
  /** The throwaway CA that signs Pebble's HTTPS listener (what certbot must trust). */
  listenerCa: string;
  listenerCert: string;
  listenerKey: string;
  config: string;
  /** Pebble's issuing root + intermediate, fetched after start (they change at every start). */
  issuerRoots: string;
  log: string;
  challLog: string;
}

export function pebblePaths(dir: string): PebblePaths {
  return {
    dir,
    listenerCa: join(dir, 'listener-ca.pem'),
    listenerCert: join(dir, 'listener-cert.pem'),
    listenerKey: join(dir, 'listener-key.pem'),
    config: join(dir, 'pebble-config.json'),
    issuerRoots: join(dir, 'issuer-roots.pem'),
    log: join(dir, 'pebble.log'),
    challLog: join(dir, 'challtestsrv.log'),
  };
}

/**
 * A throwaway CA and a localhost/127.0.0.1 certificate for Pebble's listener. The extensions are
 * the ones strict X.509 checking (Python 3.13's default, certbot on trixie) insists on.
 */
export async function makeListenerCerts(p: PebblePaths): Promise<void> {
  await mkdir(p.dir, { recursive: true });
  const caKey = join(p.dir, 'listener-ca-key.pem');
  const csr = join(p.dir, 'listener.csr');
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  await run([
    'openssl', 'req', '-x509', ...ec, '-keyout', caKey, '-out', p.listenerCa, '-days', '30',
    '-subj', '/CN=messenger-infra sandbox ACME listener CA',
    '-addext', 'basicConstraints=critical,CA:TRUE',
    '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  await run(['openssl', 'req', ...ec, '-keyout', p.listenerKey, '-out', csr, '-subj', '/CN=localhost']);
  const ext = join(p.dir, 'listener-ext.cnf');
  await writeFile(
    ext,
    [
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature',
      'extendedKeyUsage=serverAuth',
      'subjectAltName=DNS:localhost,IP:127.0.0.1',
      'subjectKeyIdentifier=hash',
      'authorityKeyIdentifier=keyid',
      '',
    ].join('\n'),
  );
  await run([
    'openssl', 'x509', '-req', '-in', csr, '-CA', p.listenerCa, '-CAkey', caKey, '-CAcreateserial',
    '-days', '30', '-extfile', ext, '-out', p.listenerCert,
  ]);
}

export async function writePebbleConfig(p: PebblePaths): Promise<void> {
  const cfg = {
    pebble: {
      listenAddress: `127.0.0.1:${PEBBLE_ACME_PORT}`,
      managementListenAddress: `127.0.0.1:${PEBBLE_MGMT_PORT}`,
      certificate: p.listenerCert,
      privateKey: p.listenerKey,
      // Validation connects to the guest's nginx, which binds the host's 80 and 443.
      httpPort: 80,
      tlsPort: 443,
      ocspResponderURL: '',
      externalAccountBindingRequired: false,
    },
  };
  await writeFile(p.config, `${JSON.stringify(cfg, null, 2)}\n`);
}

/** Starts challtestsrv then Pebble, detached, logging into p.dir. */
export function startPebble(p: PebblePaths): ProcRef[] {
  const chall = spawnDetached(
    [
      'pebble-challtestsrv',
      '-defaultIPv4', '127.0.0.1',
      '-defaultIPv6', '',
      '-dns01', `127.0.0.1:${CHALLTESTSRV_DNS_PORT}`,
      '-http01', '',
      '-https01', '',
      '-tlsalpn01', '',
      '-management', `127.0.0.1:${CHALLTESTSRV_MGMT_PORT}`,
    ],
    p.challLog,
    'pebble-challtestsrv',
  );
  const pebble = spawnDetached(
    ['pebble', '-config', p.config, '-dnsserver', `127.0.0.1:${CHALLTESTSRV_DNS_PORT}`],
    p.log,
    'pebble',
    // No validation sleeps; no random nonce rejections, so runs are deterministic.
    { ...process.env, PEBBLE_VA_NOSLEEP: '1', PEBBLE_WFE_NONCEREJECT: '0' },
  );
  return [chall, pebble];
}

/** GET over HTTPS trusting only `ca`; resolves with status and body. */
export function httpsGet(url: string, ca: string, timeoutMs = 3_000): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`timeout after ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Waits until the ACME directory answers over verified HTTPS, then saves Pebble's issuing root
 * and intermediate to p.issuerRoots.
 */
export async function waitPebbleReady(p: PebblePaths, procs: ProcRef[], timeoutMs: number): Promise<void> {
  const ca = await readFile(p.listenerCa, 'utf8');
  const deadline = Date.now() + timeoutMs;
  let lastErr = '';
  for (;;) {
    const dead = procs.find((r) => !isAlive(r));
    if (dead) {
      const log = await readFile(dead.what === 'pebble' ? p.log : p.challLog, 'utf8').catch(() => '');
      throw new SandboxError('MI_ERR_SANDBOX_PEBBLE', `${dead.what} exited at start: ${lastLine(log)} (log: ${p.dir})`);
    }
    try {
      const res = await httpsGet(ACME_DIRECTORY, ca);
      if (res.status === 200 && res.body.includes('newAccount')) break;
      lastErr = `HTTP ${res.status}`;
    } catch (err) {
      lastErr = (err as Error).message;
    }
    if (Date.now() > deadline) {
      throw new SandboxError('MI_ERR_SANDBOX_PEBBLE', `Pebble did not answer at ${ACME_DIRECTORY} within ${timeoutMs} ms: ${lastErr}`);
    }
    await sleep(100);
  }
  const mgmt = `https://127.0.0.1:${PEBBLE_MGMT_PORT}`;
  const pems: string[] = [];
  for (const path of ['/roots/0', '/intermediates/0']) {
    const res = await httpsGet(`${mgmt}${path}`, ca);
    if (res.status !== 200 || !res.body.includes('BEGIN CERTIFICATE')) {
      throw new SandboxError('MI_ERR_SANDBOX_PEBBLE', `Pebble ${mgmt}${path} answered HTTP ${res.status}`);
    }
    pems.push(res.body.trim());
  }
  await writeFile(p.issuerRoots, `${pems.join('\n')}\n`);
}

function lastLine(text: string): string {
  return text.trim().split('\n').slice(-1)[0] ?? '';
}
