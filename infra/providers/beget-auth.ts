import { InfraError } from '../errors.js';
import { describe, sendJson, type HttpOptions } from './beget-http.js';

/**
 * Beget credentials and tokens. The auth API (LTD-Beget/openapi-auth-go) has no long-lived key:
 * `POST /v1/auth {login, password, code, saveMe}` gives a token and `POST /v1/auth/refresh` renews
 * one. Tokens expire, so nothing is kept in Pulumi state or stack config: every provider operation
 * (create, read, update, delete, even a `destroy` weeks later) reads the credentials from the
 * environment of the process it runs in, never from argv.
 */
export const BEGET_ENV = { token: 'BEGET_TOKEN', login: 'BEGET_LOGIN', password: 'BEGET_PASSWORD', code: 'BEGET_2FA_CODE' } as const;

export interface BegetCredentials {
  /** A token obtained elsewhere (POST /v1/auth by hand); tried first, refreshed when rejected. */
  token?: string;
  login?: string;
  password?: string;
  /** The current 2FA code, when the account asks for one. */
  code?: string;
}

const FIX =
  'export BEGET_LOGIN=<login> BEGET_PASSWORD=<password> (plus BEGET_2FA_CODE=<code> when 2FA is on), or BEGET_TOKEN=<token>';

/** The credentials in `env`; MI_ERR_BEGET_CREDENTIALS when neither a token nor a login and password is there. */
export function begetCredentialsFromEnv(env: Record<string, string | undefined> = process.env): BegetCredentials {
  const pick = (name: string): string | undefined => (env[name] ?? '').trim() || undefined;
  const creds: BegetCredentials = {
    token: pick(BEGET_ENV.token),
    login: pick(BEGET_ENV.login),
    password: pick(BEGET_ENV.password),
    code: pick(BEGET_ENV.code),
  };
  if (!creds.token && !(creds.login && creds.password)) {
    throw new InfraError('MI_ERR_BEGET_CREDENTIALS', `the Beget credentials are not in the environment; fix: ${FIX}`);
  }
  return creds;
}

/** The auth API's error values that mean "a (new) 2FA code is needed". */
const CODE_ERRORS = ['CODE_REQUIRED', 'CODE_REQUIRED_EMAIL', 'CODE_REQUIRED_SMS', 'INCORRECT_CODE', 'CODE_SENT_LIMIT', 'CODE_INPUT_LIMIT'];

/**
 * Tokens got by logging in or refreshing, per API and account, for the life of the provider process:
 * one `pulumi up` that replaces a server logs in once, so a 2FA code is not spent twice.
 */
const TOKENS: Record<string, string> = {};

export class BegetSession {
  private readonly key: string;

  constructor(
    private readonly http: HttpOptions,
    private readonly creds: BegetCredentials,
  ) {
    this.key = `${http.baseUrl}\n${creds.login ?? creds.token ?? ''}`;
  }

  async token(): Promise<string> {
    const known = TOKENS[this.key] ?? this.creds.token;
    return known ?? (await this.login());
  }

  /** After a 401 for `rejected`: refresh it, else log in again; MI_ERR_BEGET_AUTH when neither works. */
  async renew(rejected: string): Promise<string> {
    const refreshed = await this.refresh(rejected);
    if (refreshed.token) return (TOKENS[this.key] = refreshed.token);
    if (this.creds.login && this.creds.password) return this.login();
    throw new InfraError(
      'MI_ERR_BEGET_AUTH',
      `Beget API rejected the token from BEGET_TOKEN and POST /v1/auth/refresh did not renew it (${refreshed.problem}); fix: ${FIX}`,
    );
  }

  private async refresh(rejected: string): Promise<{ token?: string; problem: string }> {
    const reply = await sendJson(this.http, 'POST', '/v1/auth/refresh', undefined, rejected);
    const body = reply.json as { token?: string; error?: string };
    if (reply.status === 200 && body.token && !body.error) return { token: body.token, problem: '' };
    return { problem: body.error ?? `HTTP ${reply.status}: ${describe(reply.json)}` };
  }

  private async login(): Promise<string> {
    const { login, password, code } = this.creds;
    if (!login || !password) throw new InfraError('MI_ERR_BEGET_CREDENTIALS', `no Beget login to fall back on; fix: ${FIX}`);
    // saveMe: false, the token lives only as long as this process needs it.
    const reply = await sendJson(this.http, 'POST', '/v1/auth', { login, password, ...(code ? { code } : {}), saveMe: false }, undefined);
    const body = reply.json as { token?: string; error?: string };
    if (reply.status === 200 && body.token && !body.error) return (TOKENS[this.key] = body.token);
    const problem = body.error ?? `HTTP ${reply.status}: ${describe(reply.json)}`;
    if (CODE_ERRORS.includes(problem)) {
      throw new InfraError('MI_ERR_BEGET_2FA', `Beget asks for a 2FA code to log in as "${login}" (${problem}); fix: export BEGET_2FA_CODE=<the current code> and run again`);
    }
    throw new InfraError(
      'MI_ERR_BEGET_AUTH',
      `Beget refused the login "${login}" (POST /v1/auth: ${problem}); fix: check BEGET_LOGIN and BEGET_PASSWORD, and that API login is allowed (cp.beget.com, Settings, Access, Beget API)`,
    );
  }
}
