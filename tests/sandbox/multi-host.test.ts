/**
 * A real multi-host sandbox: three Debian guests under systemd-nspawn, each in a network namespace of
 * its own on a private bridge, with SSH and the edge's 443 forwarded to this machine's loopback and a
 * proxy as the only way out. Every connection here goes to 127.0.0.1 or to a guest inside the
 * namespaces this test's sandbox made.
 */
import { existsSync, readdirSync } from 'node:fs';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runRaw } from '../../src/sandbox/exec.js';
import { sandboxDown, sandboxStatus, sandboxUp, sshArgv, type SandboxHost, type SandboxInfo } from '../../src/sandbox/index.js';
import { isAlive } from '../../src/sandbox/procs.js';
import { readState, type SandboxState } from '../../src/sandbox/state.js';
import { runCli as cli } from '../helpers/cli.js';

/** This machine's own links, addresses and routes: what the sandbox must leave as it found them. */
async function hostNetwork(): Promise<string> {
  const parts = await Promise.all([['ip', '-o', 'link'], ['ip', '-o', 'addr'], ['ip', 'route'], ['ip', '-6', 'route']].map((a) => runRaw(a)));
  // Counters and link state flags are not ours; names, addresses and routes are.
  return parts.map((p) => p.stdout.replace(/ +link\/\S+ \S+ brd \S+/g, '').replace(/valid_lft \S+ preferred_lft \S+/g, '')).join('\n');
}

const netnsList = () => (existsSync('/run/netns') ? readdirSync('/run/netns').filter((n) => n.startsWith('messenger-sandbox')).sort() : []);

describe('sandbox up --hosts 3', () => {
  let info: SandboxInfo;
  let state: SandboxState | null;
  let before: string;
  const ssh = (h: SandboxHost, remote: string) => runRaw(sshArgv(info.sshKeyPath, info.knownHostsPath, [remote], 5, h.sshPort), { timeoutMs: 60_000 });

  beforeAll(async () => {
    await sandboxDown();
    before = await hostNetwork();
    const progress: string[] = [];
    info = await sandboxUp({ hosts: 3, onProgress: (l) => progress.push(l) });
    state = await readState();
    console.log(`[3 hosts] ${progress.join('; ')}`);
  }, 300_000);

  afterAll(async () => {
    await sandboxDown();
  }, 120_000);

  it('describes each guest: its SSH port here and its private address, the edge first', () => {
    expect(info.privateNetwork).toBe('198.18.0.0/24');
    expect(info.hosts.map((h) => [h.name, h.sshHost, h.sshPort, h.privateAddress])).toEqual([
      ['messenger-sandbox', '127.0.0.1', 2222, '198.18.0.11'],
      ['messenger-sandbox-2', '127.0.0.1', 2223, '198.18.0.12'],
      ['messenger-sandbox-3', '127.0.0.1', 2224, '198.18.0.13'],
    ]);
    // The top-level target stays the first guest's, so every one-host tool works against the edge.
    expect(info).toMatchObject({ name: 'messenger-sandbox', sshPort: 2222, nspawnPid: info.hosts[0]?.nspawnPid });
    expect(netnsList()).toEqual(['messenger-sandbox', 'messenger-sandbox-2', 'messenger-sandbox-3', 'messenger-sandbox-net']);
  });

  it('boots each guest in its own network: only its loopback and its private address, no route out', async () => {
    for (const h of info.hosts) {
      const res = await ssh(h, 'hostname; ip -4 -o addr show | awk \'{print $2, $4}\'; echo routes:; ip route; ip route get 192.0.2.1 2>&1 || true');
      expect(res.stderr).toBe('');
      expect(res.stdout.split('routes:\n')).toEqual([
        `${h.name}\nlo 127.0.0.1/8\neth0 ${h.privateAddress}/24\n`,
        // `ip route get` asks the kernel's table; nothing is sent anywhere.
        `198.18.0.0/24 dev eth0 proto kernel scope link src ${h.privateAddress} \nRTNETLINK answers: Network is unreachable\n`,
      ]);
    }
  });

  it('lets guests reach each other over the bridge, by address and by name', async () => {
    const [edge, second, third] = info.hosts as [SandboxHost, SandboxHost, SandboxHost];
    const probe = (to: string) => `timeout 5 bash -c 'exec 3<>/dev/tcp/${to}/2222 && head -c 7 <&3'`;
    for (const [from, to] of [[second, third.privateAddress], [third, edge.name], [edge, second.name]] as const) {
      const res = await ssh(from, probe(to!));
      expect(res.stdout, `${from.name} → ${to}`).toBe('SSH-2.0');
    }
  });

  it('takes the guests out through the proxy only: apt and apt-helper (how `up` fetches Node.js) download', async () => {
    const second = info.hosts[1]!;
    const res = await ssh(
      second,
      'cat /etc/apt/apt.conf.d/80sandbox-proxy; systemctl show-environment | grep -c _proxy; ' +
        '/usr/lib/apt/apt-helper -q download-file https://registry.npmjs.org/ws/latest /tmp/ws.json >/dev/null && grep -c \'"name": *"ws"\' /tmp/ws.json',
    );
    expect(res.stdout).toBe('Acquire::http::Proxy "http://127.0.0.1:3128";\nAcquire::https::Proxy "http://127.0.0.1:3128";\n3\n1\n');
  });

  it('forwards this machine\'s 127.0.0.1:443 to the edge guest, and Pebble\'s port into each guest', async () => {
    const edge = info.hosts[0]!;
    // A real listener on the edge's 443 (systemd's socket activation with cat: an echo service).
    const started = await ssh(edge, 'systemd-run --quiet --unit mi-echo systemd-socket-activate -l 443 --inetd -a /bin/cat && sleep 0.5 && echo ok');
    expect(started.stdout.trim()).toBe('ok');
    const echoed = await new Promise<string>((resolve, reject) => {
      const c = connect({ host: '127.0.0.1', port: 443, allowHalfOpen: true });
      let got = '';
      c.setEncoding('utf8').on('data', (d: string) => (got += d));
      c.on('end', () => resolve(got)).on('error', reject);
      c.end('through the edge\n');
      setTimeout(() => reject(new Error('no answer in 5 s')), 5_000).unref();
    });
    expect(echoed).toBe('through the edge\n');
    const acme = await ssh(info.hosts[2]!, "timeout 5 bash -c 'exec 3<>/dev/tcp/127.0.0.1/14000' && echo reached");
    expect(acme.stdout.trim()).toBe('reached');
  });

  it('reports running in status, returns the same sandbox unasked, and refuses another size', async () => {
    expect(await sandboxStatus()).toEqual({ ...info, running: true });
    expect(await sandboxUp({})).toEqual(info);
    await expect(sandboxUp({ hosts: 2 })).rejects.toMatchObject({
      code: 'MI_ERR_SANDBOX_OS_MISMATCH',
      message: 'a debian13 sandbox of 3 hosts is running; stop it first with `messenger-infra sandbox down`, then start a debian13 sandbox of 2 hosts',
    });
    const text = await cli(['sandbox', 'status']);
    expect(text.stdout).toContain('  host 3:       messenger-sandbox-3  198.18.0.13  SSH root@127.0.0.1:2224');
  });

  it('rejects --hosts outside 1 to 5 with exit code 2 and one line', async () => {
    for (const bad of ['0', '6', 'two']) {
      const res = await cli(['sandbox', 'up', '--hosts', bad]);
      expect(res.code, bad).toBe(2);
      expect(res.stderr.trim()).toBe(`error: option '--hosts <n>' argument '${bad}' is invalid. use a whole number from 1 to 5.`);
    }
    expect(await sandboxStatus()).toMatchObject({ running: true });
  });

  it('down stops every process, deletes the namespaces and leaves this machine\'s network as it was', async () => {
    const procs = [...(state?.guests.map((g) => g.nspawn!) ?? []), ...(state?.network?.procs ?? [])];
    expect(procs.map((p) => p.what)).toEqual([
      'systemd-nspawn', 'systemd-nspawn', 'systemd-nspawn', 'tinyproxy',
      'forwarder in messenger-sandbox', 'forwarder in messenger-sandbox-2', 'forwarder in messenger-sandbox-3', 'forwarder on this machine',
    ]);
    expect(procs.every(isAlive)).toBe(true);
    // While up, this machine has nothing new but listeners on loopback.
    expect(await hostNetwork()).toBe(before);
    expect(await sandboxDown()).toEqual({ stopped: true });
    expect(procs.filter(isAlive)).toEqual([]);
    expect(netnsList()).toEqual([]);
    expect(existsSync(state!.network!.sockDir)).toBe(false);
    for (const g of state!.guests) expect(existsSync(g.stateDir), g.stateDir).toBe(false);
    expect(await hostNetwork()).toBe(before);
    const ports = await runRaw(['ss', '-H', '-ltn', 'sport = :443 or sport = :2222 or sport = :2224 or sport = :13128']);
    expect(ports.stdout.trim()).toBe('');
  });
});

describe('sandbox up --hosts refusals', () => {
  it('refuses a namespace of its plan that exists already, starting nothing and keeping it', async () => {
    await sandboxDown();
    await runRaw(['ip', 'netns', 'add', 'messenger-sandbox-2']);
    try {
      await expect(sandboxUp({ hosts: 2 })).rejects.toMatchObject({
        code: 'MI_ERR_SANDBOX_NETWORK',
        message: expect.stringMatching(/^network namespace messenger-sandbox-2 already exists: remove it with `ip netns del messenger-sandbox-2`/),
      });
      expect(await sandboxStatus()).toBeNull();
      expect(netnsList()).toEqual(['messenger-sandbox-2']);
    } finally {
      await runRaw(['ip', 'netns', 'del', 'messenger-sandbox-2']);
    }
  }, 120_000);
});
