// DNS: the name resolves (A/AAAA), and to the expected address when one is given.
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { CheckFailure, errorCode } from './errors.js';
import { pass, type CheckDef } from './runner.js';
import { deadline, ms } from './timing.js';

export const dnsResolve: CheckDef = {
  id: 'dns.resolve',
  title: 'DNS resolves the name',
  needs: [],
  skipIf: ({ target }) =>
    target.address
      ? `--resolve given: connecting to ${target.address}, DNS not consulted`
      : isIP(target.host)
        ? 'the URL names an IP address'
        : undefined,
  async run({ target, opts }) {
    const started = performance.now();
    let found: { address: string; family: number }[];
    try {
      // getaddrinfo, like the browsers and nginx clients that will use the name (honours /etc/hosts).
      found = await deadline(lookup(target.host, { all: true }), opts.timeoutMs, 'MI_ERR_VERIFY_DNS', `no answer for ${target.host} within ${opts.timeoutMs} ms: the resolver is unreachable`);
    } catch (err) {
      if (err instanceof CheckFailure) return { status: 'fail', code: err.code, cause: err.cause1, unreachable: true };
      const code = errorCode(err) ?? 'error';
      return {
        status: 'fail',
        code: 'MI_ERR_VERIFY_DNS',
        cause: `${target.host} does not resolve (${code}): create its A/AAAA record pointing at the server, or pass --resolve ${target.host}:${target.port}:ADDR`,
        unreachable: true,
      };
    }
    const elapsed = ms(performance.now() - started);
    const v4 = found.filter((a) => a.family === 4).map((a) => a.address);
    const v6 = found.filter((a) => a.family === 6).map((a) => a.address);
    const all = [...v4, ...v6];
    const figure = `${target.host} → ${all.join(', ')} (${v4.length} A, ${v6.length} AAAA) in ${elapsed} ms`;
    const data = { a: v4.join(','), aaaa: v6.join(','), ms: elapsed };
    const expected = opts.expectAddress;
    if (expected && !all.includes(expected)) {
      throw new CheckFailure(
        'MI_ERR_VERIFY_DNS_MISMATCH',
        `${target.host} resolves to ${all.join(', ')}, not the server's ${expected}: point the DNS record at ${expected} (or wait for the old record's TTL)`,
        data,
      );
    }
    return pass(figure, data);
  },
};

