// TLS: chain and hostname valid, protocol version; days until the certificate expires.
import { connect, type PeerCertificate, type TLSSocket } from 'node:tls';
import type { ErrorCode } from '../errors/catalogue.js';
import { CheckFailure, UNREACHABLE_CODES, errorCode, errorMessage } from './errors.js';
import { pass, type CheckDef, type CheckOutcome, type VerifyContext } from './runner.js';
import { connectOptions } from './target.js';
import { ms } from './timing.js';

/** Under this many days left the expiry check warns, under FAIL_DAYS it fails. */
export const WARN_DAYS = 21;
export const FAIL_DAYS = 7;

const UNTRUSTED = new Set([
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_UNTRUSTED',
]);

export const tlsChain: CheckDef = {
  id: 'tls.chain',
  title: 'TLS chain, hostname and protocol',
  needs: ['dns.resolve'],
  skipIf: ({ target }) => (target.secure ? undefined : 'ws:// URL: no TLS'),
  async run(ctx) {
    const { target, opts } = ctx;
    const started = performance.now();
    let socket: TLSSocket;
    try {
      socket = await handshake(ctx);
    } catch (err) {
      return handshakeFailure(ctx, err);
    }
    const elapsed = ms(performance.now() - started);
    try {
      const cert = socket.getPeerCertificate();
      const protocol = socket.getProtocol() ?? 'unknown';
      if (cert.valid_to) ctx.peer = { validTo: new Date(cert.valid_to), subject: names(cert), issuer: cn(cert.issuer) };
      const issuer = cn(cert.issuer);
      const data = { protocol, issuer, handshakeMs: elapsed, authorized: socket.authorized };
      if (!socket.authorized) {
        const code = String(socket.authorizationError ?? 'UNKNOWN');
        throw new CheckFailure(...chainFailure(code, target.host, cert, opts.caPaths?.length ?? 0), data);
      }
      const figure = `${protocol}, issued by ${issuer}, handshake ${elapsed} ms`;
      if (protocol === 'TLSv1' || protocol === 'TLSv1.1') {
        return { status: 'warn', figure, data, cause: `${protocol} negotiated: allow only TLSv1.2 and TLSv1.3 (nginx ssl_protocols TLSv1.2 TLSv1.3)` };
      }
      return pass(figure, data);
    } finally {
      socket.destroy();
    }
  },
};

export const tlsExpiry: CheckDef = {
  id: 'tls.expiry',
  title: 'TLS certificate expiry',
  needs: ['dns.resolve'],
  skipIf: ({ target, peer }) => (!target.secure ? 'ws:// URL: no TLS' : !peer ? 'no certificate was received' : undefined),
  async run({ peer }) {
    const validTo = peer!.validTo;
    const days = Math.floor((validTo.getTime() - Date.now()) / 86_400_000);
    const date = validTo.toISOString().slice(0, 10);
    const figure = `${days} days left (until ${date})`;
    const data = { daysLeft: days, notAfter: validTo.toISOString() };
    if (days < FAIL_DAYS) {
      const what = days < 0 ? `expired on ${date}` : `expires in ${days} days (${date})`;
      throw new CheckFailure('MI_ERR_VERIFY_TLS_EXPIRY', `the certificate ${what}: renewal is not working; run certbot renew and check certbot.timer`, data);
    }
    if (days < WARN_DAYS) {
      return { status: 'warn', figure, data, cause: `under ${WARN_DAYS} days left: certbot renews at 30 days, so renewal has probably been failing` };
    }
    return pass(figure, data);
  },
};

/** One TLS handshake without rejecting, so the chain and name errors can be told apart and explained. */
function handshake({ target, opts }: VerifyContext): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = connect({
      ...connectOptions(target, opts.timeoutMs),
      port: target.port,
      rejectUnauthorized: false,
      ALPNProtocols: ['http/1.1'],
    });
    socket.once('secureConnect', () => resolve(socket));
    socket.once('error', (err) => {
      socket.destroy();
      reject(err);
    });
    socket.once('timeout', () => {
      socket.destroy();
      reject(Object.assign(new Error('timeout'), { code: socket.connecting ? 'MI_ERR_VERIFY_TIMEOUT_CONNECT' : 'MI_ERR_VERIFY_TIMEOUT_TLS' }));
    });
  });
}

function handshakeFailure({ target, opts }: VerifyContext, err: unknown): CheckOutcome {
  const code = errorCode(err) ?? 'error';
  const where = `${target.address ?? target.host}:${target.port}`;
  if (UNREACHABLE_CODES.has(code)) {
    const why =
      code === 'ECONNREFUSED'
        ? `nothing listens there: is nginx running and listening on ${target.port}?`
        : code === 'ENOTFOUND' || code === 'EAI_AGAIN'
          ? `${target.host} does not resolve`
          : `no answer within ${opts.timeoutMs} ms: a firewall drops the port, or the address is wrong`;
    return { status: 'fail', code: 'MI_ERR_VERIFY_CONNECT', cause: `cannot connect to ${where} (${code}): ${why}`, unreachable: true };
  }
  if (code === 'MI_ERR_VERIFY_TIMEOUT_TLS') {
    return { status: 'fail', code: 'MI_ERR_VERIFY_TLS', cause: `connected to ${where} but the TLS handshake did not finish within ${opts.timeoutMs} ms` };
  }
  if (/WRONG_VERSION_NUMBER|wrong version number|packet length too long|http request/i.test(`${code} ${errorMessage(err)}`)) {
    return { status: 'fail', code: 'MI_ERR_VERIFY_TLS', cause: `${where} does not speak TLS (${code}): the port serves plain HTTP; add ssl to its nginx listen directive` };
  }
  return { status: 'fail', code: 'MI_ERR_VERIFY_TLS', cause: `TLS handshake with ${where} failed (${code}): ${errorMessage(err)}` };
}

function chainFailure(code: string, host: string, cert: PeerCertificate, extraRoots: number): [ErrorCode, string] {
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return ['MI_ERR_VERIFY_TLS_NAME', `the certificate is for ${names(cert)}, not ${host}: issue one for ${host} (certbot -d ${host}) and point ssl_certificate at it`];
  }
  if (code === 'CERT_HAS_EXPIRED') {
    return ['MI_ERR_VERIFY_TLS_EXPIRED', `the certificate expired on ${new Date(cert.valid_to).toISOString().slice(0, 10)}: renew it (certbot renew) and reload nginx`];
  }
  if (code === 'CERT_NOT_YET_VALID') {
    return ['MI_ERR_VERIFY_TLS_NOT_YET_VALID', `the certificate is not valid before ${cert.valid_from}: check the server's clock`];
  }
  if (UNTRUSTED.has(code)) {
    const hint = extraRoots
      ? 'it chains to none of the system roots nor the --ca roots given'
      : 'serve the full chain (fullchain.pem) from a public CA, or pass --ca FILE for a private CA';
    return ['MI_ERR_VERIFY_TLS_UNTRUSTED', `the certificate is issued by "${cn(cert.issuer)}", which is not a trusted CA (${code}): ${hint}`];
  }
  return ['MI_ERR_VERIFY_TLS', `the certificate is not valid (${code})`];
}

function cn(name: PeerCertificate['issuer'] | undefined): string {
  const v = name?.CN ?? name?.O;
  return (Array.isArray(v) ? v[0] : v) ?? 'unknown';
}

/** The names a certificate is valid for, for the wrong-name cause line. */
function names(cert: PeerCertificate): string {
  return cert.subjectaltname?.replace(/DNS:/g, '').replace(/IP Address:/g, '') || cn(cert.subject);
}
