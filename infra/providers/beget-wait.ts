import { InfraError } from '../errors.js';
import { isTransient, type BegetApi } from './beget-api.js';
import { sleep } from './beget-http.js';
import type { ConfigurationParams, VpsInfo } from './beget-models.js';

/**
 * Waiting on a server's status, bounded by the API options' pollTimeoutMs. The spec declares no 404:
 * a removed server stays, with status REMOVED and `archived`, so "gone" is read from those.
 */

/** Removed (status REMOVED), archived, or unknown to the API. */
export function isGone(vps: VpsInfo | undefined): boolean {
  return !vps || vps.status === 'REMOVED' || vps.archived === true;
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;

/** The public IPv4: `ip_address` (the spec's place for it), else an IPv4 among `additional_ip_address`. */
export function publicIpv4(vps: VpsInfo): string | undefined {
  return [vps.ip_address, ...(vps.additional_ip_address ?? [])].find((ip): ip is string => typeof ip === 'string' && IPV4.test(ip));
}

/**
 * Polls `step` until it returns a value; MI_ERR_BEGET_TIMEOUT with `describe()` after pollTimeoutMs.
 * A transient failure of a step (unreachable, HTTP 5xx) counts as "not yet"; any other failure ends the wait.
 */
async function pollUntil<T>(api: BegetApi, step: () => Promise<T | undefined>, describeLast: () => string): Promise<T> {
  const deadline = Date.now() + api.opts.pollTimeoutMs;
  let lastError: Error | undefined;
  for (;;) {
    try {
      const done = await step();
      if (done !== undefined) return done;
      lastError = undefined;
    } catch (err) {
      if (!isTransient(err)) throw err;
      lastError = err as Error;
    }
    if (Date.now() + api.opts.pollIntervalMs > deadline) break;
    await sleep(api.opts.pollIntervalMs);
  }
  const after = lastError ? `; last error: ${lastError.message}` : '';
  throw new InfraError('MI_ERR_BEGET_TIMEOUT', `Beget server ${describeLast()} after ${Math.round(api.opts.pollTimeoutMs / 1000)} s${after}`);
}

/** GETs a server that must still exist. */
async function present(api: BegetApi, id: string, doing: string): Promise<VpsInfo> {
  const vps = await api.getServer(id);
  if (!vps || isGone(vps)) throw new InfraError('MI_ERR_BEGET_API', `Beget server ${id} was removed while ${doing}`);
  return vps;
}

/** A RUNNING server may get its address a moment later; this many polls, then MI_ERR_BEGET_NO_PUBLIC_IPV4. */
const POLLS_FOR_ADDRESS = 3;

function noAddress(id: string, vps: VpsInfo): InfraError {
  return new InfraError(
    'MI_ERR_BEGET_NO_PUBLIC_IPV4',
    `Beget server ${id} is RUNNING without a public IPv4 (ip_address "${vps.ip_address ?? ''}"); SSH and the site need one; fix: attach a public IPv4 to it in the Beget panel, or remove it and run again`,
  );
}

/** Until RUNNING with a public IPv4; the server and that address. */
export async function waitUntilRunning(api: BegetApi, id: string): Promise<{ vps: VpsInfo; ipv4: string }> {
  let last: VpsInfo | undefined;
  let runningWithout = 0;
  return pollUntil(
    api,
    async () => {
      last = await present(api, id, 'waiting for it to run');
      if (last.status !== 'RUNNING') return undefined;
      const ipv4 = publicIpv4(last);
      if (ipv4) return { vps: last, ipv4 };
      if (++runningWithout >= POLLS_FOR_ADDRESS) throw noAddress(id, last);
      return undefined;
    },
    () => `${id} not running (last status ${last?.status ?? 'unknown'})`,
  );
}

function sameSize(vps: VpsInfo, want: ConfigurationParams): boolean {
  const c = vps.configuration ?? {};
  return c.cpu_count === want.cpu_count && c.memory === want.memory && c.disk_size === want.disk_size;
}

/**
 * After PUT /configuration: the server may still answer RUNNING (with the old size) before it turns
 * RECONFIGURING, so RUNNING counts only once it has left RUNNING, or when it already shows the new size.
 */
export async function waitForResize(api: BegetApi, id: string, want: ConfigurationParams): Promise<{ vps: VpsInfo; ipv4: string }> {
  let left = false;
  let last: VpsInfo | undefined;
  const vps = await pollUntil(
    api,
    async () => {
      last = await present(api, id, 'being resized');
      if (last.status !== 'RUNNING') left = true;
      return last.status === 'RUNNING' && (left || sameSize(last, want)) ? last : undefined;
    },
    () => `${id} not resized (last status ${last?.status ?? 'unknown'})`,
  );
  if (!sameSize(vps, want)) {
    throw new InfraError('MI_ERR_BEGET_API', `Beget server ${id} is RUNNING again but reports ${JSON.stringify(vps.configuration ?? {})}, not the requested ${JSON.stringify(want)}`);
  }
  const ipv4 = publicIpv4(vps);
  if (!ipv4) throw noAddress(id, vps);
  return { vps, ipv4 };
}

/** Until the server is REMOVED, archived or unknown. */
export async function waitUntilGone(api: BegetApi, id: string): Promise<void> {
  let last: VpsInfo | undefined;
  await pollUntil(
    api,
    async () => {
      last = await api.getServer(id);
      return isGone(last) ? true : undefined;
    },
    () => `${id} still present after removal (status ${last?.status ?? 'unknown'})`,
  );
}
