/**
 * The multi-host sandbox's network as data (namespaces, addresses, `ip` argv, forwarder pairs) and the
 * forwarder itself, for real on loopback and a Unix socket. No root needed.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { connect, createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MAX_HOSTS, sandboxPorts, SANDBOX_PORTS, sshPortOf } from '../../src/sandbox/constants.js';
import { parseEndpoint, startForwards } from '../../src/sandbox/forward.js';
import { planForwarders, tinyproxyConfig } from '../../src/sandbox/links.js';
import { checkNetworkFree, networkCommands, planNetwork } from '../../src/sandbox/network.js';
import { missingPackages } from '../../src/sandbox/preflight.js';

const names = ['messenger-sandbox', 'messenger-sandbox-2', 'messenger-sandbox-3'];

describe('the private network plan', () => {
  const plan = planNetwork(names);

  it('gives each guest its namespace and an address in the benchmarking range, the edge first', () => {
    expect(plan.cidr).toBe('198.18.0.0/24');
    expect(plan.guests.map((g) => [g.index, g.netns, g.address, g.hubIf])).toEqual([
      [1, 'messenger-sandbox', '198.18.0.11', 'veth1'],
      [2, 'messenger-sandbox-2', '198.18.0.12', 'veth2'],
      [3, 'messenger-sandbox-3', '198.18.0.13', 'veth3'],
    ]);
  });

  it('builds every link inside a namespace it names: nothing in this machine\'s own', () => {
    const cmds = networkCommands(plan);
    for (const argv of cmds) {
      const inNamespace = (argv[1] === '-n' && typeof argv[2] === 'string') || (argv[1] === 'netns' && argv[2] === 'add');
      expect(inNamespace, argv.join(' ')).toBe(true);
    }
    // Veth peers go straight into the guest's namespace; addresses only on the guests' eth0.
    expect(cmds).toContainEqual(['ip', '-n', 'messenger-sandbox-net', 'link', 'add', 'veth2', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', 'messenger-sandbox-2']);
    const addrs = cmds.filter((c) => c.includes('addr'));
    expect(addrs).toEqual(plan.guests.map((g) => ['ip', '-n', g.netns, 'addr', 'add', `${g.address}/24`, 'dev', 'eth0']));
    // No route is ever added: the namespaces lead nowhere but to each other.
    expect(cmds.some((c) => c.includes('route'))).toBe(false);
  });

  it('refuses a namespace that exists already, naming it and the fix', () => {
    expect(() => checkNetworkFree(plan, (p) => p === '/run/netns/messenger-sandbox-2')).toThrowError(
      /^network namespace messenger-sandbox-2 already exists: remove it with `ip netns del messenger-sandbox-2`/,
    );
    expect(() => checkNetworkFree(plan, () => false)).not.toThrow();
  });

  it('forwards SSH of every guest, the edge\'s web ports, and the ways out of each guest', () => {
    const specs = planForwarders(plan, '/run/x', [2222, 2223, 2224]);
    expect(specs.map((s) => s.netns)).toEqual([...names, null]);
    const [edge, second, , host] = specs;
    expect(edge?.pairs).toEqual([
      'unix:/run/x/ssh-1.sock', 'tcp:127.0.0.1:2222',
      'tcp:127.0.0.1:3128', 'unix:/run/x/egress.sock',
      'tcp:127.0.0.1:14000', 'unix:/run/x/acme.sock',
      'unix:/run/x/edge-80.sock', 'tcp:127.0.0.1:80',
      'unix:/run/x/edge-443.sock', 'tcp:127.0.0.1:443',
    ]);
    expect(second?.pairs).not.toContain('unix:/run/x/edge-443.sock');
    expect(host?.pairs).toEqual([
      'tcp:127.0.0.1:2222', 'unix:/run/x/ssh-1.sock',
      'tcp:127.0.0.1:80', 'unix:/run/x/edge-80.sock',
      'tcp:127.0.0.1:443', 'unix:/run/x/edge-443.sock',
      'tcp:127.0.0.1:2223', 'unix:/run/x/ssh-2.sock',
      'tcp:127.0.0.1:2224', 'unix:/run/x/ssh-3.sock',
      'unix:/run/x/egress.sock', 'tcp:127.0.0.1:13128',
      'unix:/run/x/acme.sock', 'tcp:127.0.0.1:14000',
    ]);
    // Every endpoint on this machine is loopback or a socket file.
    for (const ep of specs.flatMap((s) => s.pairs)) expect(ep).toMatch(/^(tcp:127\.0\.0\.1:\d+|unix:\/run\/x\/[a-z0-9-]+\.sock)$/);
  });

  it('lets tinyproxy listen and serve on loopback only, CONNECT to 443 only, unprivileged', () => {
    const conf = tinyproxyConfig();
    expect(conf).toMatch(/^Listen 127\.0\.0\.1$/m);
    expect(conf).toMatch(/^Allow 127\.0\.0\.1$/m);
    expect(conf).toMatch(/^ConnectPort 443$/m);
    expect(conf).toMatch(/^User nobody$/m);
    expect(conf.match(/^Allow /gm)).toHaveLength(1);
  });

  it('takes the forwarded ports on this machine, and needs tinyproxy, only with several hosts', () => {
    expect(sandboxPorts(1)).toBe(SANDBOX_PORTS);
    const three = sandboxPorts(3).map((p) => `${p.port}/${p.proto}`);
    expect(three).toEqual(['80/tcp', '443/tcp', '2222/tcp', '2223/tcp', '2224/tcp', '13128/tcp', '14000/tcp', '15000/tcp', '8053/tcp', '8053/udp', '8055/tcp']);
    expect(three).not.toContain('3306/tcp');
    expect(sshPortOf(MAX_HOSTS)).toBe(2222 + MAX_HOSTS - 1);
    const none = () => false;
    expect(missingPackages(none, 1)).not.toContain('tinyproxy');
    expect(missingPackages(none, 2)).toContain('tinyproxy');
  });
});

/** A loopback port nothing listens on (the forwarder takes explicit ports only). */
async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe('the forwarder', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mi-fwd-'));
  const servers: Server[] = [];
  afterAll(() => {
    for (const s of servers) s.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('parses endpoints and refuses anything else with the accepted forms', () => {
    expect(parseEndpoint('tcp:127.0.0.1:443')).toEqual({ host: '127.0.0.1', port: 443 });
    expect(parseEndpoint('unix:/run/a.sock')).toEqual({ path: '/run/a.sock' });
    for (const bad of ['tcp:127.0.0.1:0', 'tcp:127.0.0.1:70000', 'udp:1.2.3.4:5', 'unix:', 'tcp:localhost:80']) {
      expect(() => parseEndpoint(bad), bad).toThrowError(/use tcp:ADDR:PORT or unix:PATH$/);
    }
  });

  it('carries bytes both ways through TCP → socket file → TCP, passing a half-close through', async () => {
    // The far end: echoes what it gets, then answers "bye" once the client has finished sending.
    const echo = createServer({ allowHalfOpen: true }, (s) => {
      s.on('data', (d) => s.write(d));
      s.on('end', () => s.end('bye'));
    });
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
    servers.push(echo);
    const echoPort = (echo.address() as AddressInfo).port;
    const sock = join(dir, 'mid.sock');
    servers.push(...(await startForwards([`unix:${sock}`, `tcp:127.0.0.1:${echoPort}`])));
    const frontPort = await freePort();
    servers.push(...(await startForwards([`tcp:127.0.0.1:${frontPort}`, `unix:${sock}`])));
    expect(statSync(sock).mode & 0o777).toBe(0o600);

    const payload = Buffer.alloc(256 * 1024, 7);
    const got = await new Promise<Buffer>((resolve, reject) => {
      const c = connect({ host: '127.0.0.1', port: frontPort, allowHalfOpen: true });
      const chunks: Buffer[] = [];
      c.on('data', (d: Buffer) => chunks.push(d));
      c.on('end', () => resolve(Buffer.concat(chunks)));
      c.on('error', reject);
      c.end(payload);
      setTimeout(() => reject(new Error('no end within 5 s')), 5_000).unref();
    });
    expect(got.length).toBe(payload.length + 3);
    expect(got.subarray(0, payload.length).equals(payload)).toBe(true);
    expect(got.subarray(payload.length).toString()).toBe('bye');
  });

  it('refuses to start when a listener cannot bind, so a half-started forwarder never says ready', async () => {
    const port = await freePort();
    servers.push(...(await startForwards([`tcp:127.0.0.1:${port}`, `unix:${join(dir, 'x.sock')}`])));
    await expect(startForwards([`tcp:127.0.0.1:${port}`, `unix:${join(dir, 'y.sock')}`])).rejects.toThrow(/EADDRINUSE/);
  });
});
