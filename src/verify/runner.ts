// Runs check definitions in report order: a check whose prerequisite failed is skipped with that reason,
// background checks (the long idle one) start as soon as they may and are awaited at the end.
import type { ErrorCode } from '../errors/catalogue.js';
import { CheckFailure, errorCode, errorMessage } from './errors.js';
import type { Target } from './target.js';
import type { CheckId, CheckResult, CheckStatus, VerifyOptions } from './types.js';

/** What a check returns; the runner adds id, title and duration. */
export interface CheckOutcome {
  status: CheckStatus;
  figure?: string;
  cause?: string;
  code?: ErrorCode;
  data?: CheckResult['data'];
  /** Nothing answered at all (DNS failed, connection refused or timed out): exit code 3. */
  unreachable?: boolean;
}

/** State the checks share: the target, tokens, and what one check leaves for another. */
export interface VerifyContext {
  opts: VerifyOptions;
  target: Target;
  /** Accepted by the server (given, or minted from the secret); empty for a user's app without --token. */
  token: string;
  /** Well-formed but signed with a secret the server cannot know. */
  badToken: string;
  /** A message msg.broadcast sent, for msg.history to find over REST. */
  sent?: { id: number; after: number; text: string };
  /** Engine.IO timings of each Socket.IO path the WebSocket handshake connected, for its ping check. */
  sio?: Map<string, { pingInterval: number; pingTimeout: number }>;
  /** The certificate tls.chain saw, for tls.expiry. */
  peer?: { validTo: Date; subject: string; issuer: string };
}

export interface CheckDef {
  id: CheckId;
  title: string;
  /** Checks that must not have failed for this one to mean anything. */
  needs: CheckId[];
  /** Runs alongside the others and is awaited at the end (the idle window). */
  background?: boolean;
  /** A reason to skip before running (e.g. `--quick`), or undefined to run. */
  skipIf?: (ctx: VerifyContext) => string | undefined;
  run: (ctx: VerifyContext) => Promise<CheckOutcome>;
}

export const pass = (figure?: string, data?: CheckResult['data']): CheckOutcome => ({ status: 'pass', figure, data });
export const skip = (cause: string): CheckOutcome => ({ status: 'skip', cause });

export interface RunResult {
  results: CheckResult[];
  reachable: boolean;
}

export async function runChecks(defs: CheckDef[], ctx: VerifyContext): Promise<RunResult> {
  const byId = new Map<CheckId, CheckResult>();
  /** Checks that failed, or were skipped because something they need failed → the failed root check. */
  const blocked = new Map<CheckId, CheckId>();
  const pending: Promise<void>[] = [];
  let reachable = true;

  const runOne = async (def: CheckDef): Promise<void> => {
    const started = performance.now();
    const blocker = def.needs.find((n) => blocked.has(n));
    let outcome: CheckOutcome;
    if (blocker) {
      const root = blocked.get(blocker)!;
      outcome = skip(`not run: ${root} failed`);
      blocked.set(def.id, root);
    } else {
      const reason = def.skipIf?.(ctx);
      outcome = reason ? skip(reason) : await guarded(def, ctx);
      if (outcome.status === 'fail') blocked.set(def.id, def.id);
    }
    if (outcome.unreachable) reachable = false;
    const result: CheckResult = {
      id: def.id,
      title: def.title,
      status: outcome.status,
      ...(outcome.figure !== undefined ? { figure: outcome.figure } : {}),
      ...(outcome.cause !== undefined ? { cause: outcome.cause } : {}),
      ...(outcome.code !== undefined ? { code: outcome.code } : {}),
      ...(outcome.data !== undefined ? { data: outcome.data } : {}),
      durationMs: Math.round(performance.now() - started),
    };
    byId.set(def.id, result);
    ctx.opts.onResult?.(result);
  };

  // Background checks start as soon as everything they need has a result, so the idle window overlaps
  // the other checks instead of adding to the run time; the report keeps the definition order.
  const waiting = defs.filter((d) => d.background);
  const startReady = (): void => {
    for (const def of [...waiting]) {
      if (def.needs.every((n) => byId.has(n))) {
        waiting.splice(waiting.indexOf(def), 1);
        pending.push(runOne(def));
      }
    }
  };
  startReady();
  for (const def of defs) {
    if (def.background) continue;
    await runOne(def);
    startReady();
  }
  for (const def of waiting) pending.push(runOne(def));
  await Promise.all(pending);
  const results = defs.map((d) => byId.get(d.id)!);
  return { results, reachable };
}

/** Runs a check, turning a throw into a failure with a stable code and one-line cause. */
async function guarded(def: CheckDef, ctx: VerifyContext): Promise<CheckOutcome> {
  try {
    return await def.run(ctx);
  } catch (err) {
    if (err instanceof CheckFailure) {
      return { status: 'fail', code: err.code, cause: err.cause1, ...(err.data ? { data: err.data } : {}) };
    }
    const code = errorCode(err);
    return { status: 'fail', code: 'MI_ERR_VERIFY_INTERNAL', cause: `${def.id} crashed: ${code ? `${code} ` : ''}${errorMessage(err)}` };
  }
}
