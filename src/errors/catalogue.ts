/**
 * Every stable error code of the toolkit, with the process exit code it maps to and a one-line
 * meaning. This is the only place a code is declared; `MiError` takes a key of this table, so a typo
 * is a compile error. Exit codes: 1 a failure on the host or the network, 2 bad input (usage),
 * 3 could not connect (verify), 4 a check failed (verify), 75 the host is busy (locked).
 */
export const ERROR_CATALOGUE = {
  // input
  MI_ERR_CONFIG: { exit: 2, meaning: 'bad input: a flag or a stack field; the message names it and the fix' },
  MI_ERR_BUNDLE_MISSING: { exit: 2, meaning: 'the chat server bundle is not built' },
  MI_ERR_RENDER: { exit: 1, meaning: 'a template view model is incomplete (a bug)' },
  // SSH and the host
  MI_ERR_SSH_CONNECT: { exit: 1, meaning: 'nothing answered on the SSH port' },
  MI_ERR_SSH_AUTH: { exit: 1, meaning: 'the SSH login was refused' },
  MI_ERR_SSH_KNOWN_HOSTS: { exit: 2, meaning: 'the known_hosts file cannot be read' },
  MI_ERR_SSH_HOSTKEY_UNKNOWN: { exit: 1, meaning: 'the host key is not in known_hosts' },
  MI_ERR_SSH_HOSTKEY_MISMATCH: { exit: 1, meaning: 'the host key differs from known_hosts' },
  MI_ERR_SSH_HOSTKEY_REVOKED: { exit: 1, meaning: 'the host key is marked @revoked' },
  MI_ERR_SSH_DROPPED: { exit: 1, meaning: 'the SSH connection ended while a command ran' },
  MI_ERR_SUDO: { exit: 2, meaning: 'commands do not run as root (no passwordless sudo)' },
  MI_ERR_UNSUPPORTED_OS: { exit: 2, meaning: 'the host runs an operating system that is not supported' },
  MI_ERR_UNSUPPORTED_ARCH: { exit: 2, meaning: 'the host has a CPU architecture that is not supported' },
  MI_ERR_FACTS: { exit: 1, meaning: 'facts could not be read from the host' },
  MI_ERR_TIMEOUT: { exit: 1, meaning: 'a remote command took longer than its bound' },
  MI_ERR_REMOTE_PROGRAMS: { exit: 1, meaning: 'the remote programs could not be installed on the host' },
  MI_ERR_HOST_LOCKED: { exit: 75, meaning: 'another run holds the host lock' },
  // remote steps
  MI_ERR_STEP_FAILED: { exit: 1, meaning: 'a remote command of a step failed' },
  MI_ERR_APT_LOCKED: { exit: 1, meaning: 'apt/dpkg stayed locked by another process' },
  MI_ERR_APT_FAILED: { exit: 1, meaning: 'apt could not install the packages' },
  MI_ERR_DOWNLOAD: { exit: 1, meaning: 'a download failed or did not match its checksum' },
  MI_ERR_NGINX_INVALID: { exit: 1, meaning: 'nginx -t refused the new config; the previous files were restored' },
  MI_ERR_NGINX_RELOAD: { exit: 1, meaning: 'nginx did not load the new config; the previous files were restored' },
  MI_ERR_MARIADB_INVALID: { exit: 1, meaning: 'mariadbd refused the new option file; the previous file was restored' },
  MI_ERR_SYSTEMD_INVALID: { exit: 1, meaning: 'systemd-analyze refused the new unit; the previous files were restored' },
  MI_ERR_SYSCTL_INVALID: { exit: 1, meaning: 'the kernel refused a sysctl setting; the previous file was restored' },
  MI_ERR_ACTIVATION_FAILED: { exit: 1, meaning: 'a reload or restart failed; the previous files were restored' },
  MI_ERR_HEALTH_GATE: { exit: 1, meaning: 'the new release did not become ready; the previous one was restored' },
  MI_ERR_CERTBOT: { exit: 1, meaning: 'certbot could not obtain the certificate' },
  MI_ERR_DATABASE: { exit: 1, meaning: 'the database or its user could not be configured' },
  MI_ERR_INTERRUPTED: { exit: 1, meaning: 'a remote program was stopped by a signal; it restored what it had changed' },
  MI_ERR_KILLED: { exit: 1, meaning: 'a remote program was killed (SIGKILL, out of memory); the next run finishes what it left' },
  // the CLI itself
  MI_ERR_INTERNAL: { exit: 1, meaning: 'an unexpected error (a bug): the CLI prints it with "(unexpected: please report)"' },
  // the local sandbox (src/sandbox)
  MI_ERR_SANDBOX_BAD_OS: { exit: 2, meaning: 'the sandbox OS is not one of the supported ones' },
  MI_ERR_SANDBOX_NOT_ROOT: { exit: 1, meaning: 'the sandbox must be started as root' },
  MI_ERR_SANDBOX_MISSING_PACKAGES: { exit: 1, meaning: 'Debian packages the sandbox needs are not installed' },
  MI_ERR_SANDBOX_PORT_TAKEN: { exit: 1, meaning: 'a host port the sandbox needs is taken by another process' },
  MI_ERR_SANDBOX_OS_MISMATCH: { exit: 1, meaning: 'a sandbox of another OS is running' },
  MI_ERR_SANDBOX_BUSY: { exit: 1, meaning: 'another sandbox command holds the sandbox lock' },
  MI_ERR_SANDBOX_ROOTFS: { exit: 1, meaning: 'the Debian root filesystem could not be built or copied' },
  MI_ERR_SANDBOX_BOOT: { exit: 1, meaning: 'the sandbox machine did not boot or answer over SSH' },
  MI_ERR_SANDBOX_PEBBLE: { exit: 1, meaning: 'the local ACME CA (Pebble) did not start' },
  MI_ERR_SANDBOX_STOP: { exit: 1, meaning: 'the sandbox could not be stopped cleanly' },
  MI_ERR_SANDBOX_COMMAND: { exit: 1, meaning: 'a host command the sandbox runs failed' },
  // the cloud path (cli/commands/cloud.ts, infra/)
  MI_ERR_PULUMI_MISSING: { exit: 1, meaning: 'the pulumi CLI is not on PATH' },
  MI_ERR_PULUMI_OUTPUT: { exit: 1, meaning: 'a stack output is missing after pulumi up' },
  MI_ERR_PASSPHRASE_MODE: { exit: 1, meaning: 'the Pulumi passphrase file is readable by other users' },
  MI_ERR_DESTROY_UNCONFIRMED: { exit: 2, meaning: 'destroy was not confirmed (--yes, or the stack name typed back)' },
  MI_ERR_BEGET_API: { exit: 1, meaning: 'the Beget API answered with an error' },
  MI_ERR_BEGET_AUTH: { exit: 1, meaning: 'the Beget API refused the token' },
  MI_ERR_BEGET_INVALID: { exit: 1, meaning: 'the Beget API rejected the request' },
  MI_ERR_BEGET_NOT_FOUND: { exit: 1, meaning: 'the Beget API does not know the resource' },
  MI_ERR_BEGET_UNREACHABLE: { exit: 1, meaning: 'the Beget API could not be reached' },
  MI_ERR_BEGET_TIMEOUT: { exit: 1, meaning: 'a Beget server did not reach the awaited status in time' },
  MI_ERR_BEGET_HOSTNAME_TAKEN: { exit: 1, meaning: 'another Beget server already has the hostname' },
  MI_ERR_BEGET_IMPORT: { exit: 1, meaning: 'importing an existing Beget server is not supported' },
  MI_ERR_HOST_SETUP: { exit: 1, meaning: 'the host setup resource failed on the server' },
  MI_ERR_HOST_SETUP_UNAVAILABLE: { exit: 1, meaning: 'the host setup resource could not load the executor' },
  // verify: results of checks, not thrown by the CLI; the report's exit code is 3 when nothing answered, 4 when a check failed
  MI_ERR_VERIFY_DNS: { exit: 3, meaning: 'the name does not resolve' },
  MI_ERR_VERIFY_CONNECT: { exit: 3, meaning: 'nothing answered at the address' },
  MI_ERR_VERIFY_TIMEOUT_CONNECT: { exit: 3, meaning: 'the TCP connection was not established in time' },
  MI_ERR_VERIFY_DNS_MISMATCH: { exit: 4, meaning: 'the name resolves, but not to the expected address' },
  MI_ERR_VERIFY_FOREIGN_HOST: { exit: 4, meaning: 'a connection to a name other than the target was refused' },
  MI_ERR_VERIFY_TIMEOUT: { exit: 4, meaning: 'an answer did not come in time' },
  MI_ERR_VERIFY_TIMEOUT_TLS: { exit: 4, meaning: 'the TLS handshake did not finish in time' },
  MI_ERR_VERIFY_TLS: { exit: 4, meaning: 'the TLS handshake or the certificate failed' },
  MI_ERR_VERIFY_TLS_UNTRUSTED: { exit: 4, meaning: 'the certificate is not issued by a trusted CA' },
  MI_ERR_VERIFY_TLS_NAME: { exit: 4, meaning: 'the certificate does not name the host' },
  MI_ERR_VERIFY_TLS_EXPIRED: { exit: 4, meaning: 'the certificate has expired' },
  MI_ERR_VERIFY_TLS_NOT_YET_VALID: { exit: 4, meaning: 'the certificate is not valid yet' },
  MI_ERR_VERIFY_TLS_EXPIRY: { exit: 4, meaning: 'the certificate expires soon' },
  MI_ERR_VERIFY_REDIRECT: { exit: 4, meaning: 'http:// does not redirect to https://' },
  MI_ERR_VERIFY_HTTP: { exit: 4, meaning: 'a health endpoint answered wrongly' },
  MI_ERR_VERIFY_UPGRADE: { exit: 4, meaning: 'the WebSocket upgrade failed' },
  MI_ERR_VERIFY_UPSTREAM: { exit: 4, meaning: 'the proxy could not reach the chat server' },
  MI_ERR_VERIFY_AUTH: { exit: 4, meaning: 'the server refused the token' },
  MI_ERR_VERIFY_ORIGIN: { exit: 4, meaning: 'the server refused the Origin' },
  MI_ERR_VERIFY_NOT_REFUSED: { exit: 4, meaning: 'the server accepted a connection it must refuse' },
  MI_ERR_VERIFY_PING: { exit: 4, meaning: 'the server did not answer a ping' },
  MI_ERR_VERIFY_PROTOCOL: { exit: 4, meaning: 'the server answered a frame with an error' },
  MI_ERR_VERIFY_CLOSED: { exit: 4, meaning: 'the server closed the connection unexpectedly' },
  MI_ERR_VERIFY_BROADCAST: { exit: 4, meaning: 'a message did not reach the other client' },
  MI_ERR_VERIFY_HISTORY: { exit: 4, meaning: 'a sent message is missing from the history' },
  MI_ERR_VERIFY_IDLE: { exit: 4, meaning: 'an idle connection was closed' },
  MI_ERR_VERIFY_RECONNECT: { exit: 4, meaning: 'a client could not reconnect' },
  MI_ERR_VERIFY_CONCURRENCY: { exit: 4, meaning: 'not every concurrent connection upgraded' },
  MI_ERR_VERIFY_INTERNAL: { exit: 4, meaning: 'a check crashed (a bug in verify)' },
  // the chat server (app/src, bundled separately; its process exits 1 on these) and its client
  MI_ERR_APP_CONFIG: { exit: 1, meaning: 'the chat server\'s environment is invalid' },
  MI_ERR_APP_DB: { exit: 1, meaning: 'the chat server cannot use its database' },
  MI_ERR_APP_START: { exit: 1, meaning: 'the chat server did not start' },
  MI_ERR_APP_CRASH: { exit: 1, meaning: 'the chat server crashed (uncaught exception or rejection)' },
  MI_ERR_CHAT_CONNECT: { exit: 1, meaning: 'the chat client could not connect' },
  MI_ERR_CHAT_UPGRADE_REJECTED: { exit: 1, meaning: 'the server answered the upgrade with a non-101 status' },
  MI_ERR_CHAT_TIMEOUT: { exit: 1, meaning: 'the chat server did not answer in time' },
  MI_ERR_CHAT_CLOSED: { exit: 1, meaning: 'the socket closed while the chat client waited' },
  MI_ERR_CHAT_SERVER_ERROR: { exit: 1, meaning: 'the chat server answered with an error frame' },
} as const satisfies Record<string, { exit: number; meaning: string }>;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;

export function exitCodeFor(code: ErrorCode): number {
  return ERROR_CATALOGUE[code].exit;
}

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ERROR_CATALOGUE, value);
}
