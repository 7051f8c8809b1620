// The target of a verification run: URL parts, the pinned address of `--resolve`, extra trusted roots.
// Every socket verify opens goes through `connectOptions()`, so `--resolve` and `--ca` apply to all of them
// (ws, https, tls) alike and nothing connects anywhere the user did not name.
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { readFileSync } from 'node:fs';
import { isIP, type LookupFunction } from 'node:net';
import { createSecureContext, rootCertificates, type SecureContext } from 'node:tls';
import { VerifyInputError } from './errors.js';
import type { ResolveSpec, VerifyOptions } from './types.js';

export interface Target {
  url: URL;
  secure: boolean;
  /** Name used for SNI, the Host header and the certificate check. */
  host: string;
  port: number;
  /** `https://host:port` (or http for ws://): base of the REST and health endpoints. */
  httpBase: string;
  /** Port of the plain-HTTP listener checked for the redirect. */
  httpPort: number;
  /** Pinned address from `--resolve`. */
  address?: string;
  /**
   * System roots plus the `--ca` files, built once: passing `ca` to every connection would re-parse the
   * whole root store per handshake (tens of ms each), which would distort the latency figures.
   */
  secureContext?: SecureContext;
}

/** Parses `HOST:PORT:ADDR` (ADDR may be `[v6]`), like curl's `--resolve`. */
export function parseResolve(spec: string): ResolveSpec {
  const m = /^([^:\s]+):(\d{1,5}):(\[[0-9a-fA-F:.]+\]|[^\s]+)$/.exec(spec);
  const address = m?.[3]?.replace(/^\[(.*)\]$/, '$1');
  const port = Number(m?.[2]);
  if (!m || !address || !isIP(address) || !(port > 0 && port < 65536)) {
    throw new VerifyInputError('--resolve', `"${spec}" is not HOST:PORT:ADDR with ADDR an IP address (e.g. chat.example.com:443:203.0.113.7)`);
  }
  return { host: m[1]!.toLowerCase(), port, address };
}

export function parseTarget(opts: Pick<VerifyOptions, 'url' | 'resolve' | 'caPaths' | 'httpPort'>): Target {
  let url: URL;
  try {
    url = new URL(opts.url);
  } catch {
    throw new VerifyInputError('url', `"${opts.url}" is not a URL; pass e.g. wss://chat.example.com/ws`);
  }
  if (url.protocol !== 'wss:' && url.protocol !== 'ws:') {
    throw new VerifyInputError('url', `"${opts.url}" must start with wss:// (or ws:// for a plain-HTTP test server)`);
  }
  const secure = url.protocol === 'wss:';
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  const port = url.port ? Number(url.port) : secure ? 443 : 80;
  if (opts.resolve) {
    if (opts.resolve.host !== host || opts.resolve.port !== port) {
      throw new VerifyInputError(
        '--resolve',
        `${opts.resolve.host}:${opts.resolve.port} does not match the URL's ${host}:${port}; use --resolve ${host}:${port}:${opts.resolve.address}`,
      );
    }
  }
  const ca = opts.caPaths?.length ? [...rootCertificates, ...opts.caPaths.map(readCa)] : undefined;
  const base: Target = {
    url,
    secure,
    host,
    port,
    httpBase: `${secure ? 'https' : 'http'}://${url.host}`,
    httpPort: opts.httpPort ?? 80,
  };
  if (opts.resolve) base.address = opts.resolve.address;
  if (ca) base.secureContext = createSecureContext({ ca });
  return base;
}

function readCa(path: string): string {
  let pem: string;
  try {
    pem = readFileSync(path, 'utf8');
  } catch (err) {
    throw new VerifyInputError('--ca', `cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? 'error'}); pass a readable PEM file`);
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) {
    throw new VerifyInputError('--ca', `${path} holds no PEM certificate; pass the CA root in PEM form`);
  }
  return pem;
}

/**
 * A `lookup` for net/tls/http/ws: the target's name maps to the pinned address when `--resolve` was
 * given; any other name is refused, so a redirect or a stray option can never lead elsewhere.
 */
export function targetLookup(target: Target): LookupFunction {
  return (hostname, options, callback) => {
    const name = hostname.toLowerCase();
    if (name !== target.host) {
      const err = Object.assign(new Error(`verify connects only to ${target.host}, not ${hostname}`), { code: 'MI_ERR_VERIFY_FOREIGN_HOST' });
      callback(err, '', 4);
      return;
    }
    if (!target.address) {
      dnsLookup(hostname, options, callback as never);
      return;
    }
    const family = isIP(target.address);
    if (options.all) {
      (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, [{ address: target.address, family }]);
    } else {
      callback(null, target.address, family);
    }
  };
}

/** Options shared by every socket verify opens (https.request, tls.connect and ws all accept them). */
export function connectOptions(target: Target, timeoutMs: number) {
  return {
    host: target.host,
    lookup: targetLookup(target),
    ...(target.secure && isIP(target.host) === 0 ? { servername: target.host } : {}),
    ...(target.secureContext ? { secureContext: target.secureContext } : {}),
    timeout: timeoutMs,
  };
}
