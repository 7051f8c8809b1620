/**
 * nginx in front of a user's app for the verify tests, shaped like templates/nginx/site.conf.hbs for
 * `app.source`: one `location ^~ PATH` with the Upgrade/Connection headers per declared WebSocket path,
 * everything else proxied without them, the port-80 redirect, TLS 1.3 from the throwaway test CA, and an
 * upstream of one or more instances (round robin, or `hash $remote_addr consistent` when sticky).
 * Needs the Debian packages nginx and openssl; runs nginx by its PID on free 127.0.0.1 ports.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { STACK_HOST, makePki, nginxHead, proxyLines, type Pki } from '../helpers/local-stack.js';
import { tcpOpen } from '../helpers/mariadb.js';
import { freePort } from '../helpers/mariadb.js';

export interface AppProxyOptions {
  /** Loopback ports of the app's instances. */
  upstreams: number[];
  /** The paths nginx proxies with Upgrade (the stack's app.websocket). */
  websocketPaths: string[];
  /** `hash $remote_addr consistent` (what the product renders for Socket.IO with several instances). */
  sticky?: boolean;
  /** Forward Upgrade/Connection on the WebSocket paths (default true). */
  upgradeHeaders?: boolean;
}

export interface AppProxy {
  httpsPort: number;
  httpPort: number;
  resolve: { host: string; port: number; address: string };
  resolveArg: string;
  stop(): Promise<void>;
}

export function appNginxConfig(prefix: string, pki: Pki, ports: { http: number; https: number }, o: AppProxyOptions): string {
  const cert = pki.cert('good');
  const { forwarded, upgrade } = proxyLines('user_app', o.upgradeHeaders !== false);
  const wsLocations = o.websocketPaths
    .map((p) => `    location ^~ ${p} {\n        ${forwarded}\n        ${upgrade}\n        proxy_read_timeout 3600s;\n        proxy_send_timeout 3600s;\n        proxy_buffering off;\n    }`)
    .join('\n');
  return `${nginxHead(prefix)}
    upstream user_app {
        ${o.sticky ? 'hash $remote_addr consistent;' : '# round robin: no stickiness'}
${o.upstreams.map((p) => `        server 127.0.0.1:${p};`).join('\n')}
        keepalive 32;
    }
    server {
        listen 127.0.0.1:${ports.http};
        server_name ${STACK_HOST};
        location / {
            return 301 https://$host:${ports.https}$request_uri;
        }
    }
    server {
        listen 127.0.0.1:${ports.https} ssl;
        server_name ${STACK_HOST};
        ssl_certificate ${cert.certPath};
        ssl_certificate_key ${cert.keyPath};
        ssl_protocols TLSv1.3;
        add_header Strict-Transport-Security "max-age=63072000" always;
${wsLocations}
    location / {
        ${forwarded}
        proxy_set_header Connection "";
    }
    }
}
`;
}


/** Stops a child we started, by its own PID. */
async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  process.kill(child.pid, 'SIGTERM');
  const t = setTimeout(() => child.exitCode === null && child.signalCode === null && child.pid !== undefined && process.kill(child.pid, 'SIGKILL'), 10_000);
  await exited;
  clearTimeout(t);
}

/** The throwaway PKI of one test file (its folder is removed by `rm`). */
export async function appPki(): Promise<{ pki: Pki; dir: string; rm(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'mi-verify-app-'));
  const pki = await makePki(join(dir, 'pki'));
  return { pki, dir, rm: () => rm(dir, { recursive: true, force: true }) };
}

export async function startAppProxy(pki: Pki, dir: string, o: AppProxyOptions): Promise<AppProxy> {
  const prefix = await mkdtemp(join(dir, 'nginx-'));
  await mkdir(join(prefix, 'tmp'), { recursive: true });
  const [httpsPort, httpPort] = [await freePort(), await freePort()];
  const configPath = join(prefix, 'nginx.conf');
  await writeFile(configPath, appNginxConfig(prefix, pki, { http: httpPort, https: httpsPort }, o));
  const child = spawn('/usr/sbin/nginx', ['-p', prefix, '-c', configPath, '-e', join(prefix, 'error.log'), '-g', 'daemon off;'], { stdio: 'ignore' });
  const until = Date.now() + 15_000;
  while (!((await tcpOpen(httpsPort)) && (await tcpOpen(httpPort)))) {
    if (child.exitCode !== null || Date.now() > until) {
      await stopChild(child);
      throw new Error(`MI_ERR_TEST_STACK: nginx did not start (${configPath})`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    httpsPort,
    httpPort,
    resolve: { host: STACK_HOST, port: httpsPort, address: '127.0.0.1' },
    resolveArg: `${STACK_HOST}:${httpsPort}:127.0.0.1`,
    stop: () => stopChild(child),
  };
}
