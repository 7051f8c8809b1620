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
  /** Pinned address from `--resolve` for the URL's port (TLS, WebSocket, REST). */
  address?: string;
  /** Pinned address for the `--http-port` listener (the redirect check); defaults to `address`. */
  httpAddress?: string;
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

/**
 * Like curl, one `--resolve` entry per port of the URL's host: the URL's port (TLS, WebSocket) and the
 * `--http-port` (the redirect check). Unlike curl, a port without an entry of its own uses the URL
 * port's pin, so `--resolve HOST:443:ADDR` alone also checks ADDR's port 80 (before DNS exists).
 */
function pinnedAddresses(specs: readonly ResolveSpec[], host: string, port: number, httpPort: number): Pick<Target, 'address' | 'httpAddress'> {
  const byPort = new Map<number, string>();
  for (const spec of specs) {
    if (spec.host !== host || (spec.port !== port && spec.port !== httpPort)) {
      throw new VerifyInputError(
        '--resolve',
        `${spec.host}:${spec.port} does not match the URL's ${host}:${port} (or the --http-port ${httpPort}); use --resolve ${host}:${port}:${spec.address}`,
      );
    }
    if (byPort.has(spec.port)) throw new VerifyInputError('--resolve', `${host}:${spec.port} is given twice; keep one entry per port`);
    byPort.set(spec.port, spec.address);
  }
  const address = byPort.get(port);
  const httpAddress = byPort.get(httpPort) ?? address;
  return { ...(address ? { address } : {}), ...(httpAddress ? { httpAddress } : {}) };
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
  const httpPort = opts.httpPort ?? 80;
  const pins = pinnedAddresses(opts.resolve === undefined ? [] : [opts.resolve].flat(), host, port, httpPort);
  const ca = opts.caPaths?.length ? [...rootCertificates, ...opts.caPaths.map(readCa)] : undefined;
  const base: Target = {
    url,
    secure,
    host,
    port,
    httpBase: `${secure ? 'https' : 'http'}://${url.host}`,
    httpPort,
    ...pins,
  };
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
 * A `lookup` for net/tls/http/ws connecting to `port`: the target's name maps to the address pinned for
 * that port when `--resolve` was given; any other name is refused, so a redirect or a stray option can
 * never lead elsewhere.
 */
export function targetLookup(target: Target, port = target.port): LookupFunction {
  const pinned = port === target.port ? target.address : target.httpAddress;
  return (hostname, options, callback) => {
    const name = hostname.toLowerCase();
    if (name !== target.host) {
      const err = Object.assign(new Error(`verify connects only to ${target.host}, not ${hostname}`), { code: 'MI_ERR_VERIFY_FOREIGN_HOST' });
      callback(err, '', 4);
      return;
    }
    if (!pinned) {
      dnsLookup(hostname, options, callback as never);
      return;
    }
    const family = isIP(pinned);
    if (options.all) {
      (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, [{ address: pinned, family }]);
    } else {
      callback(null, pinned, family);
    }
  };
}

/** Options shared by every socket verify opens (https.request, tls.connect and ws all accept them). */
export function connectOptions(target: Target, timeoutMs: number, port = target.port) {
  return {
    host: target.host,
    lookup: targetLookup(target, port),
    ...(target.secure && isIP(target.host) === 0 ? { servername: target.host } : {}),
    ...(target.secureContext ? { secureContext: target.secureContext } : {}),
    timeout: timeoutMs,
  };
}
