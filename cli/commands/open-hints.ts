/**
 * How to reach the sandbox's chat by name from this machine: the domain resolves nowhere, so the
 * browser and curl are told where it is, and the sandbox CA (Pebble's root) is the one to trust.
 */
export function sandboxHints(domain: string, caPath: string | undefined, url = `https://${domain}/`): string {
  const ca = caPath ?? '<the CA root from `messenger-infra sandbox status`>';
  return [
    '',
    `the sandbox answers for ${domain} on 127.0.0.1:`,
    `  chromium --host-resolver-rules="MAP ${domain} 127.0.0.1" '${url}'`,
    `  trust its CA once (Debian: apt install libnss3-tools): certutil -d sql:$HOME/.pki/nssdb -A -t C,, -n messenger-sandbox -i ${ca}`,
    `  curl --resolve ${domain}:443:127.0.0.1 --cacert ${ca} https://${domain}/healthz`,
    '',
  ].join('\n');
}
