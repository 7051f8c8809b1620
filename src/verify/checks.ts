// Every check, in report order. Each names what it needs; the runner skips it when that failed.
import { wsConcurrency } from './concurrency.js';
import { dnsResolve } from './dns.js';
import { httpHealthz, httpReadyz, httpRedirect } from './http.js';
import { wsIdle } from './idle.js';
import { wsLatency } from './latency.js';
import { msgBroadcast, msgHistory } from './messaging.js';
import { wsReconnect } from './reconnect.js';
import type { CheckDef } from './runner.js';
import { tlsChain, tlsExpiry } from './tls.js';
import { wsPing, wsRejectOrigin, wsRejectToken, wsUpgrade } from './upgrade.js';

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
