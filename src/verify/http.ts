// HTTP: http:// redirects to https://, /healthz and /readyz answer through the proxy.
import { CheckFailure, UNREACHABLE_CODES, errorCode, errorMessage } from './errors.js';
import { httpAsk, statusCause, type HttpAnswer } from './http-client.js';
import { pass, type CheckDef, type VerifyContext } from './runner.js';
import { ms } from './timing.js';

const REDIRECTS = new Set([301, 302, 307, 308]);

export const httpRedirect: CheckDef = {
  id: 'http.redirect',
  title: 'http:// redirects to https://',
  needs: ['dns.resolve'],
  skipIf: ({ target }) => (target.secure ? undefined : 'ws:// URL: nothing to redirect to'),
  async run({ target, opts }) {
    // Any path redirects; the one health answers on is the one certain to exist.
    const path = opts.app?.health ?? '/healthz';
    let answer: HttpAnswer;
    try {
      answer = await httpAsk(target, { secure: false, port: target.httpPort, path }, opts.timeoutMs);
    } catch (err) {
      const code = errorCode(err) ?? 'error';
      const why = UNREACHABLE_CODES.has(code) ? `nothing answers on port ${target.httpPort}; open it and let nginx listen there (it also serves ACME HTTP-01 challenges)` : errorMessage(err);
      throw new CheckFailure('MI_ERR_VERIFY_REDIRECT', `http://${target.host}:${target.httpPort}${path} failed (${code}): ${why}`);
    }
    const location = answer.headers.location ?? '';
    const data = { status: answer.status, location, ms: ms(answer.ms) };
    if (!REDIRECTS.has(answer.status)) {
      throw new CheckFailure(
        'MI_ERR_VERIFY_REDIRECT',
        `http:// answered ${answer.status} instead of redirecting to https://: add "return 301 https://$host$request_uri;" to the port-${target.httpPort} server block`,
        data,
      );
    }
    let to: URL | undefined;
    try {
      to = new URL(location, `http://${target.host}`);
    } catch {
      to = undefined;
    }
    if (!to || to.protocol !== 'https:' || to.hostname.toLowerCase() !== target.host) {
      throw new CheckFailure('MI_ERR_VERIFY_REDIRECT', `http:// redirects to "${location}", not to https://${target.host}/...`, data);
    }
    const figure = `${answer.status} → ${location} in ${data.ms} ms`;
    if (answer.status === 302 || answer.status === 307) {
      return { status: 'warn', figure, data, cause: `temporary redirect (${answer.status}): use 301 so clients remember https` };
    }
    return pass(figure, data);
  },
};

function healthCheck(id: 'http.healthz' | 'http.readyz', path: string, title: string): CheckDef {
  return {
    id,
    title,
    needs: ['dns.resolve', 'tls.chain'],
    async run(ctx: VerifyContext) {
      const { target, opts } = ctx;
      let answer: HttpAnswer;
      try {
        answer = await httpAsk(target, { secure: target.secure, port: target.port, path }, opts.timeoutMs);
      } catch (err) {
        const code = errorCode(err) ?? 'error';
        return {
          status: 'fail',
          code: 'MI_ERR_VERIFY_HTTP',
          cause: `GET ${path} failed (${code}): ${errorMessage(err)}`,
          unreachable: !target.secure && UNREACHABLE_CODES.has(code),
        };
      }
      const data = { status: answer.status, ms: ms(answer.ms) };
      if (answer.status !== 200) throw new CheckFailure('MI_ERR_VERIFY_HTTP', statusCause(answer.status, answer.headers, path), data);
      return pass(`200 in ${data.ms} ms`, data);
    },
  };
}

export const httpHealthz = healthCheck('http.healthz', '/healthz', '/healthz answers (liveness)');
export const httpReadyz = healthCheck('http.readyz', '/readyz', '/readyz answers (database reachable)');
