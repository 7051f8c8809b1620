/**
 * restic repository URLs, read: an sftp: login for ssh, and a URL fit for messages (a password in it
 * replaced). No imports: the stack schema checks with it too.
 */

/** An sftp: repository's login as ssh takes it: user@host, the port, the path (restic's two spellings). */
export function parseSftpRepository(repository: string): { login: string; port?: number; path: string } | null {
  const url = /^sftp:\/\/([^/@]+@)?([^/:]+|\[[0-9a-fA-F:]+\])(?::(\d+))?\/(.*)$/.exec(repository);
  // ssh takes an IPv6 address bare (restic strips the brackets too).
  if (url) return { login: `${url[1] ?? ''}${url[2]!.replace(/^\[(.*)\]$/, '$1')}`, ...(url[3] ? { port: Number(url[3]) } : {}), path: url[4] ?? '' };
  const short = /^sftp:([^/:]+@)?([^/:]+):(.+)$/.exec(repository);
  if (short) return { login: `${short[1] ?? ''}${short[2]}`, path: short[3] ?? '' };
  return null;
}

/** A repository URL for messages and unit descriptions: a password inside it (rest:, s3:) replaced. */
export function redactRepository(repository: string): string {
  const scheme = /^([a-z0-9]+:)(https?:\/\/.*)$/.exec(repository);
  if (scheme && URL.canParse(scheme[2]!)) {
    const url = new URL(scheme[2]!);
    if (url.password) {
      url.password = '***';
      return `${scheme[1]}${url.href}`;
    }
    // No password as a URL parser sees it; one starting with # or ? still ends at the last @ before the path.
  }
  return repository.replace(/(:\/\/[^/:@]*):[^/]*@/, '$1:***@');
}
