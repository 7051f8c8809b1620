import type { OsId } from '../../src/core/os-profiles.js';
import { InfraError } from '../errors.js';
import type { SoftwareInfo } from './beget-models.js';

/**
 * The operating system of a new Beget server. Stock systems are marketplace software
 * (`GET /v1/vps/marketplace/software/list`, created with `software {id, variable}`); `image_id` is
 * only for images of the separate image API (uploaded, or made from a VPS; per region, priced),
 * which `--image` still passes through.
 *
 * How the list spells an OS is not in the spec: it is matched by name ("debian") and version ("13",
 * "13.x") or by slug ("debian-13", the form Beget's Terraform docs show as "ubuntu-24-04").
 */
const OS_SOFTWARE: Readonly<Record<OsId, { family: string; version: string; label: string }>> = {
  debian13: { family: 'debian', version: '13', label: 'Debian 13' },
  debian12: { family: 'debian', version: '12', label: 'Debian 12' },
  ubuntu2404: { family: 'ubuntu', version: '24.04', label: 'Ubuntu 24.04' },
  ubuntu2204: { family: 'ubuntu', version: '22.04', label: 'Ubuntu 22.04' },
};

const lower = (s: string | undefined): string => (s ?? '').trim().toLowerCase();

function isFamily(sw: SoftwareInfo, family: string): boolean {
  return lower(sw.name) === family || lower(sw.slug).startsWith(`${family}-`) || lower(sw.display_name).split(/\s+/)[0] === family;
}

/** 2 = the version field says exactly this version, 1 = a point release of it or the slug says it, 0 = no. */
function versionScore(sw: SoftwareInfo, family: string, version: string): number {
  const v = lower(sw.version);
  if (v === version) return 2;
  if (v.startsWith(`${version}.`) || lower(sw.slug) === `${family}-${version.replace('.', '-')}`) return 1;
  return 0;
}

/** The marketplace entry for `os`; MI_ERR_BEGET_OS_UNAVAILABLE (naming what is offered) when there is none. */
export function chooseSoftware(list: SoftwareInfo[], os: OsId): SoftwareInfo {
  const want = OS_SOFTWARE[os];
  const candidates = list
    .filter((sw) => sw.is_available !== false && isFamily(sw, want.family))
    .map((sw) => ({ sw, score: versionScore(sw, want.family, want.version) }))
    .filter((c) => c.score > 0)
    .sort((a, b) => b.score - a.score);
  const best = candidates[0]?.sw;
  if (best) return best;
  const offered = list
    .filter((sw) => sw.is_available !== false && (isFamily(sw, 'debian') || isFamily(sw, 'ubuntu')))
    .map((sw) => `${sw.display_name ?? sw.name ?? sw.slug} (${sw.version ?? '?'})`);
  throw new InfraError(
    'MI_ERR_BEGET_OS_UNAVAILABLE',
    `Beget's marketplace lists no available ${want.label} (Debian/Ubuntu offered: ${offered.join(', ') || 'none'}); fix: pulumi config set os debian12 (or debian13, ubuntu2404, ubuntu2204), or give a custom image with --image <image_id>`,
  );
}
