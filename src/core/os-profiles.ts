/**
 * The target operating systems and what differs between them for our configs. The executor detects
 * the OS from /etc/os-release (see `detectOs`) and refuses anything not listed here.
 */
export const OS_IDS = ['debian13', 'debian12', 'ubuntu2404', 'ubuntu2204'] as const;
export type OsId = (typeof OS_IDS)[number];

export interface OsProfile {
  id: OsId;
  name: string;
  codename: string;
  /** nginx, MariaDB, certbot and Redis versions the distribution ships (major.minor). */
  nginx: string;
  mariadb: string;
  certbot: string;
  redis: string;
  /** Redis ACLs restrict pub/sub channels (`&pattern`, `resetchannels`) from 6.2. */
  redisChannelAcl: boolean;
  /** `http2 on;` exists from nginx 1.25.1; older versions take `listen ... http2`. */
  nginxHttp2Directive: boolean;
  /** Tested in the local sandbox (Ubuntu's archive is not reachable from the test machine). */
  tested: boolean;
}

export const OS_PROFILES: Readonly<Record<OsId, OsProfile>> = {
  debian13: { id: 'debian13', name: 'Debian 13', codename: 'trixie', nginx: '1.26', mariadb: '11.8', certbot: '4.0', redis: '8.0', redisChannelAcl: true, nginxHttp2Directive: true, tested: true },
  debian12: { id: 'debian12', name: 'Debian 12', codename: 'bookworm', nginx: '1.22', mariadb: '10.11', certbot: '2.1', redis: '7.0', redisChannelAcl: true, nginxHttp2Directive: false, tested: true },
  ubuntu2404: { id: 'ubuntu2404', name: 'Ubuntu 24.04', codename: 'noble', nginx: '1.24', mariadb: '10.11', certbot: '2.9', redis: '7.0', redisChannelAcl: true, nginxHttp2Directive: false, tested: false },
  ubuntu2204: { id: 'ubuntu2204', name: 'Ubuntu 22.04', codename: 'jammy', nginx: '1.18', mariadb: '10.6', certbot: '1.21', redis: '6.0', redisChannelAcl: false, nginxHttp2Directive: false, tested: false },
};

/** Maps /etc/os-release's ID and VERSION_ID to a supported profile, or null. */
export function osFromRelease(id: string, versionId: string): OsProfile | null {
  const key = `${id}${versionId.replace('.', '')}`;
  return (OS_PROFILES as Record<string, OsProfile>)[key] ?? null;
}
