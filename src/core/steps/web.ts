import { cmd, remote } from '../command.js';
import { filesUnder, NGINX_PREFIX, type DesiredState } from '../desired-state.js';
import { factValue, fileFact, pathExistsFact, queryFact, unitFact, type FactValues } from '../facts.js';
import { fileFacts, planFileGroup } from '../file-plan.js';
import { HOST_PATHS } from '../host-model.js';
import { liveUpstreamFact, seedUpstreamFile } from '../release.js';
import { REMOTE_EXIT } from '../remote-exit.js';
import type { RenderedFile, SitePhase } from '../render.js';
import { ensureRunning, mergePlans, noChange, type Step, type StepPlan } from '../step.js';

/**
 * nginx and TLS. The site goes live in two phases: a port-80 bootstrap (ACME webroot) until a
 * certificate exists, then the full TLS site. Every nginx change is validated with `nginx -t` while
 * the previous files wait beside it, and nginx reloads only on a valid config (`mi-remote activate`,
 * which also waits until the new workers serve).
 */
const nginxUnit = unitFact('nginx');

/** Subject names and expiry of the live certificate, plus the ACME server it renews against. */
export function certFact(domain: string) {
  return queryFact(`cert:${domain}`, ['cert', domain]);
}

export interface CertState {
  exists: boolean;
  fresh: boolean;
  names: string[];
  server: string | null;
}

export function certState(desired: DesiredState, facts: FactValues): CertState {
  const lines = factValue(facts, certFact(desired.stack.domain)).stdout.split('\n').map((l) => l.trim()).filter(Boolean);
  if (lines[0] === 'missing' || lines.length === 0) return { exists: false, fresh: false, names: [], server: null };
  const server = lines.find((l) => l.startsWith('server '))?.slice(7) ?? null;
  return { exists: true, fresh: lines[0] === 'fresh', names: lines.slice(1).filter((l) => !l.startsWith('server ')), server };
}

/** The certificate is there, names the domain, is not expiring, and came from the wanted ACME server. */
export function certUsable(desired: DesiredState, cert: CertState): boolean {
  return cert.exists && cert.fresh && cert.names.includes(desired.stack.domain) && cert.server === desired.stack.acme.server;
}

function nginxFiles(files: readonly RenderedFile[]): RenderedFile[] {
  return filesUnder(files, NGINX_PREFIX);
}

/** `onlySite`: the TLS-site step manages just the site file; the main config is the nginx step's. */
function planNginx(desired: DesiredState, facts: FactValues, phase: SitePhase, onlySite = false): StepPlan {
  const unit = factValue(facts, nginxUnit);
  const webroot = factValue(facts, pathExistsFact(HOST_PATHS.acmeWebroot));
  // The full site includes the live upstream: seeded when missing, then left to the releases.
  const live = factValue(facts, liveUpstreamFact);
  const seed = phase === 'full' && !live.exists && live.leftovers.length === 0 ? [seedUpstreamFile(desired.model)] : [];
  const files = planFileGroup(
    [...seed, ...nginxFiles(desired.files[phase]).filter((f) => !onlySite || f.path === HOST_PATHS.nginxSite)],
    facts,
    `validate (nginx -t) and reload nginx (${phase} site)`,
  );
  const prep: StepPlan = webroot
    ? noChange()
    : { commands: [cmd('create ACME webroot', 'mkdir', '-p', `${HOST_PATHS.acmeWebroot}/.well-known/acme-challenge`)], changes: [`create ${HOST_PATHS.acmeWebroot}`], diffs: [] };
  // A config change reloads (and enables) nginx anyway.
  return mergePlans(prep, files, files.commands.length > 0 ? noChange() : ensureRunning('nginx', unit));
}

function webFacts(desired: DesiredState) {
  return [nginxUnit, pathExistsFact(HOST_PATHS.acmeWebroot), certFact(desired.stack.domain), liveUpstreamFact, ...fileFacts(nginxFiles(desired.files.full))];
}

/** nginx main config and the site in whichever phase the certificate allows right now. */
export const nginxStep: Step = {
  id: 'nginx',
  roles: ['edge', 'app'],
  title: 'nginx',
  facts: webFacts,
  plan(facts, desired) {
    const cert = certState(desired, facts);
    // An app server behind the edge has no certificate: its site is the internal one from the start.
    const internal = !desired.model.placement.roles.has('edge');
    return planNginx(desired, facts, internal || (cert.exists && cert.names.includes(desired.stack.domain)) ? 'full' : 'bootstrap');
  },
};

const timerUnit = unitFact('certbot.timer');

/** A private ACME CA's files: its bundle and the drop-in that makes renewals trust it. */
const PRIVATE_CA_FILES: readonly string[] = [HOST_PATHS.acmeCaBundle, HOST_PATHS.certbotCaDropIn];

/** The deploy hook, and with a private ACME CA its bundle and the renewals' drop-in. */
function tlsFiles(desired: DesiredState): RenderedFile[] {
  return desired.files.full.filter((f) => f.path === HOST_PATHS.certbotDeployHook || PRIVATE_CA_FILES.includes(f.path));
}

/** Back to a public CA: the private CA's files go, or renewals would trust only it. */
function planCaRemoval(desired: DesiredState, facts: FactValues): StepPlan {
  const wanted = tlsFiles(desired).map((f) => f.path);
  const stale = PRIVATE_CA_FILES.filter((p) => !wanted.includes(p) && factValue(facts, fileFact(p)).exists);
  if (stale.length === 0) return noChange();
  return {
    commands: [cmd('remove the private ACME CA', 'rm', '-f', ...stale), cmd('reload systemd units', 'systemctl', 'daemon-reload')],
    changes: stale.map((p) => `remove ${p} (no private ACME CA any more)`),
    diffs: [],
  };
}

/** certbot over the webroot, a deploy hook that reloads nginx, renewal by certbot's timer. */
export const certificateStep: Step = {
  id: 'certificate',
  roles: ['edge'],
  title: 'TLS certificate (ACME)',
  facts: (desired) => [certFact(desired.stack.domain), timerUnit, ...fileFacts(tlsFiles(desired)), ...PRIVATE_CA_FILES.map(fileFact)],
  plan(facts, desired) {
    const { domain, email, acme } = desired.stack;
    const files = mergePlans(planFileGroup(tlsFiles(desired), facts, 'install certbot hook and ACME CA'), planCaRemoval(desired, facts));
    const cert = certState(desired, facts);
    const privateCa = desired.model.acmeCaBundle !== undefined ? [HOST_PATHS.acmeCaBundle] : [];
    const issue: StepPlan = certUsable(desired, cert)
      ? noChange()
      : {
          commands: [
            remote(`certbot certonly --webroot for ${domain}`, ['certbot', HOST_PATHS.acmeWebroot, domain, email, acme.server, ...privateCa], {
              errors: { [REMOTE_EXIT.FAILED]: 'MI_ERR_CERTBOT' },
            }),
          ],
          changes: [
            cert.exists
              ? `renew the certificate for ${domain} (${!cert.fresh ? 'expires within 30 days' : cert.server !== acme.server ? `ACME server changes to ${acme.server}` : 'names differ'})`
              : `obtain a certificate for ${domain} from ${acme.server}`,
          ],
          diffs: [],
        };
    return mergePlans(files, issue, ensureRunning('certbot.timer', factValue(facts, timerUnit)));
  },
};

/** The full TLS site once the certificate exists. */
export const siteStep: Step = {
  id: 'site',
  roles: ['edge', 'app'],
  title: 'nginx TLS site',
  facts: webFacts,
  plan: (facts, desired) => planNginx(desired, facts, 'full', true),
};
