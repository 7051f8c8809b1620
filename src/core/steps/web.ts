import { cmd, sh } from '../command.js';
import { filesUnder, NGINX_PREFIX, type DesiredState } from '../desired-state.js';
import { commandFact, factValue, pathExistsFact, unitFact, type FactValues } from '../facts.js';
import { fileFacts, planFileGroup } from '../file-plan.js';
import { HOST_PATHS } from '../host-model.js';
import type { RenderedFile, SitePhase } from '../render.js';
import { ensureRunning, mergePlans, noChange, type Step, type StepPlan } from '../step.js';

/**
 * nginx and TLS. The site goes live in two phases: a port-80 bootstrap (ACME webroot) until a
 * certificate exists, then the full TLS site. Every nginx change is validated with `nginx -t`
 * while the previous files wait beside it; a failing config is rolled back before any reload.
 */
const nginxUnit = unitFact('nginx');
/**
 * `systemctl reload nginx` only signals the master. This waits (bounded, 5 s) until a worker started
 * from the new config exists and every old worker has stopped accepting ("is shutting down"), so
 * the next request, e.g. the closing verification, is served by the new config. The unit is
 * enabled on the way, so a second run has nothing left to do.
 */
const NGINX_ACTIVATE = [
  'workers() { for d in /proc/[0-9]*; do read -r _ _ _ pp _ < "$d/stat" 2>/dev/null && [ "$pp" = "$1" ] && printf "%s " "${d#/proc/}"; done; true; }',
  'if ! systemctl is-active --quiet nginx; then systemctl enable --now nginx; exit $?; fi',
  'm=$(cat /run/nginx.pid) && old=" $(workers "$m")" && systemctl enable --quiet nginx && systemctl reload nginx || exit 1',
  'i=0; while [ $i -lt 100 ]; do',
  '  fresh=0; for p in $(workers "$m"); do case "$old " in *" $p "*) ;; *) fresh=1;; esac; done',
  '  accepting=0; for p in $old; do [ "$(tr -d \'\\000\' < /proc/$p/cmdline 2>/dev/null)" = "nginx: worker process" ] && accepting=1; done',
  '  [ $fresh = 1 ] && [ $accepting = 0 ] && exit 0',
  '  i=$((i+1)); sleep 0.05',
  'done',
  // nginx -t passed but the master did not load it (a port taken, a key it cannot read): fail, so
  // the previous files come back.
  'echo "nginx did not load the new config within 5 s; see journalctl -u nginx" >&2; exit 1',
].join('\n');

export function certFact(domain: string) {
  // Subject names and expiry of the live certificate, plus the ACME server it renews against.
  return commandFact(
    `cert:${domain}`,
    `c=/etc/letsencrypt/live/${domain}/fullchain.pem; [ -f "$c" ] || { echo missing; exit 0; }; openssl x509 -in "$c" -noout -checkend 2592000 >/dev/null && echo fresh || echo expiring; openssl x509 -in "$c" -noout -ext subjectAltName 2>/dev/null | tr ',' '\\n' | sed -n 's/^ *DNS://p'; sed -n 's/^server = /server /p' /etc/letsencrypt/renewal/${domain}.conf 2>/dev/null`,
  );
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
  const files = planFileGroup(nginxFiles(desired.files[phase]).filter((f) => !onlySite || f.path === HOST_PATHS.nginxSite), facts, {
    label: `validate (nginx -t) and reload nginx (${phase} site)`,
    validate: 'nginx -t -q',
    activate: NGINX_ACTIVATE,
  });
  const prep: StepPlan = webroot
    ? noChange()
    : { commands: [cmd('create ACME webroot', 'mkdir', '-p', `${HOST_PATHS.acmeWebroot}/.well-known/acme-challenge`)], changes: [`create ${HOST_PATHS.acmeWebroot}`], diffs: [] };
  // A config change reloads (and enables) nginx anyway.
  return mergePlans(prep, files, files.commands.length > 0 ? noChange() : ensureRunning('nginx', unit));
}

function webFacts(desired: DesiredState) {
  return [nginxUnit, pathExistsFact(HOST_PATHS.acmeWebroot), certFact(desired.stack.domain), ...fileFacts(nginxFiles(desired.files.full))];
}

/** nginx main config and the site in whichever phase the certificate allows right now. */
export const nginxStep: Step = {
  id: 'nginx',
  title: 'nginx',
  facts: webFacts,
  plan(facts, desired) {
    const cert = certState(desired, facts);
    return planNginx(desired, facts, cert.exists && cert.names.includes(desired.stack.domain) ? 'full' : 'bootstrap');
  },
};

const timerUnit = unitFact('certbot.timer');

function tlsFiles(desired: DesiredState): RenderedFile[] {
  const files = desired.files.full.filter((f) => f.path === HOST_PATHS.certbotDeployHook);
  if (desired.acmeCaBundle !== undefined) {
    files.push({ path: HOST_PATHS.acmeCaBundle, content: desired.acmeCaBundle, mode: 0o644, owner: 'root', group: 'root', notify: [] });
    // Renewals run from certbot.timer and must trust the same private ACME CA.
    files.push({
      path: '/etc/systemd/system/certbot.service.d/messenger-chat-acme-ca.conf',
      content: `# managed by messenger-infra; local edits are overwritten\n[Service]\nEnvironment=REQUESTS_CA_BUNDLE=${HOST_PATHS.acmeCaBundle}\n`,
      mode: 0o644,
      owner: 'root',
      group: 'root',
      notify: [],
    });
  }
  return files;
}

/** certbot over the webroot, a deploy hook that reloads nginx, renewal by certbot's timer. */
export const certificateStep: Step = {
  id: 'certificate',
  title: 'TLS certificate (ACME)',
  facts: (desired) => [certFact(desired.stack.domain), timerUnit, ...fileFacts(tlsFiles(desired))],
  plan(facts, desired) {
    const { domain, email, acme } = desired.stack;
    const files = planFileGroup(tlsFiles(desired), facts, { label: 'install certbot hook and ACME CA', activate: 'systemctl daemon-reload' });
    const cert = certState(desired, facts);
    const issue: StepPlan = certUsable(desired, cert)
      ? noChange()
      : {
          commands: [
            sh(
              `certbot certonly --webroot for ${domain}`,
              [
                'set -e',
                `[ -f "${HOST_PATHS.acmeCaBundle}" ] && [ "$5" = private ] && export REQUESTS_CA_BUNDLE="${HOST_PATHS.acmeCaBundle}"`,
                'certbot certonly --webroot -w "$1" -d "$2" -m "$3" --server "$4" --agree-tos --non-interactive --no-eff-email --cert-name "$2" --key-type ecdsa --force-renewal --quiet',
              ].join('\n'),
              [HOST_PATHS.acmeWebroot, domain, email, acme.server, desired.acmeCaBundle !== undefined ? 'private' : 'public'],
            ),
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
  title: 'nginx TLS site',
  facts: webFacts,
  plan: (facts, desired) => planNginx(desired, facts, 'full', true),
};
