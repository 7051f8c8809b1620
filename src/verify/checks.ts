// Every check, in report order. Each names what it needs; the runner skips it when that failed.
import { BUNDLED_ONLY, appHealth, appPathChecks } from './app.js';
import { wsConcurrency } from './concurrency.js';
import { dnsResolve } from './dns.js';
import { httpHealthz, httpReadyz, httpRedirect } from './http.js';
import { wsIdle } from './idle.js';
import { wsLatency } from './latency.js';
import { msgBroadcast, msgHistory } from './messaging.js';
import { wsReconnect } from './reconnect.js';
import type { CheckDef } from './runner.js';
import { tlsChain, tlsExpiry } from './tls.js';
import type { VerifyApp } from './types.js';
import { wsPing, wsRejectOrigin, wsRejectToken, wsUpgrade } from './upgrade.js';

/** The bundled chat server's checks: its endpoints and its chat protocol. */
export const CHECKS: readonly CheckDef[] = [
  dnsResolve,
  tlsChain,
  tlsExpiry,
  httpRedirect,
  httpHealthz,
  httpReadyz,
  wsUpgrade,
  wsRejectToken,
  wsRejectOrigin,
  wsPing,
  msgBroadcast,
  msgHistory,
  wsReconnect,
  wsLatency,
  wsConcurrency,
  wsIdle,
];

/** What applies to every app: the name, TLS and the port-80 redirect. */
const COMMON: readonly CheckDef[] = [dnsResolve, tlsChain, tlsExpiry, httpRedirect];

/**
 * The checks of one run. The bundled server: CHECKS. A user's app: the common ones, its health path,
 * its WebSocket paths; then the bundled server's own checks, each reported as skipped with the reason
 * (so the report says which apply).
 */
export function checksFor(app: VerifyApp | undefined): CheckDef[] {
  if (!app) return [...CHECKS];
  const bundledOnly = CHECKS.filter((d) => !COMMON.includes(d)).map(
    (d): CheckDef => ({ id: d.id, title: d.title, needs: [], skipIf: () => BUNDLED_ONLY, run: d.run }),
  );
  return [...COMMON, appHealth(app.health), ...appPathChecks(app), ...bundledOnly];
}
