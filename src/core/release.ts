import type { StackConfig } from '../config/schema.js';
import type { AppBundle } from './desired-state.js';
import { sha256 } from './file-plan.js';
import { fileFact } from './facts.js';
import { HOST_PATHS, type HostModel } from './host-model.js';
import type { RenderedFile } from './render.js';

/**
 * Releases on the host: `/srv/messenger-chat/releases/<id>`, id = UTC time + content hash, each with
 * the manifest below. Pure: what a release is, which one is live, and which slot the next one takes.
 */
export interface ReleaseManifest {
  id: string;
  /** What was built: the files, the build command, the install mode and the Node.js version. */
  hash: string;
  kind: AppBundle['kind'];
  version: string;
  createdAt: string;
  /** user@machine (or the CI's actor) that made it. */
  by: string;
  /** It ran a migration when it went live: releases before it may expect an older schema. */
  migrates: boolean;
  /** The Node.js it was built for and runs on (its RELEASE_NODE_LINK); absent in older manifests. */
  node?: string;
}

export interface DesiredRelease {
  hash: string;
  /** The folder a new release gets when none on the host has `hash`. */
  newId: string;
  manifest: ReleaseManifest;
}

export const MANIFEST_FILE = '.mi-manifest.json';

/** 20261201T120301Z: sorts by time, and is a valid file name. */
export function releaseTime(now: Date): string {
  return now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
}

/** The version people see: app.env.APP_VERSION when the stack sets it, else the bundle's. */
export function versionLabel(stack: StackConfig, bundle: AppBundle): string {
  return stack.app.env.APP_VERSION ?? bundle.version;
}

export function desiredRelease(stack: StackConfig, bundle: AppBundle, now: Date, by: string): DesiredRelease {
  const hash = sha256(
    JSON.stringify({
      files: bundle.files.map((f) => [f.name, sha256(f.content)]),
      kind: bundle.kind,
      install: bundle.install ?? null,
      build: bundle.kind === 'source' && bundle.install === 'ci' ? (stack.app.build ?? null) : null,
      // A release is its code and its runtime: native modules are built for one Node.js, and a new
      // Node.js must pass the health gate like new code does.
      node: stack.node.version,
      // A new version label is a new release in `releases`, even when the code is the same.
      version: versionLabel(stack, bundle),
    }),
  );
  const newId = `${releaseTime(now)}-${hash.slice(0, 12)}`;
  return {
    hash,
    newId,
    manifest: { id: newId, hash, kind: bundle.kind, version: versionLabel(stack, bundle), createdAt: now.toISOString(), by, migrates: stack.app.migrate !== undefined, node: stack.node.version },
  };
}

export interface HostRelease {
  id: string;
  manifest?: ReleaseManifest;
}

/** The `releases` fact: newest first. */
export function parseReleases(stdout: string): HostRelease[] {
  return stdout
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .map((line) => {
      const space = line.indexOf(' ');
      const id = space < 0 ? line : line.slice(0, space);
      try {
        return { id, manifest: JSON.parse(line.slice(space + 1)) as ReleaseManifest };
      } catch {
        return { id };
      }
    });
}

export function releasePath(id: string): string {
  return `${HOST_PATHS.appReleases}/${id}`;
}

/** The release id a link (current, an instance's) points at, or '' for none. */
export function releaseIdOf(target: string): string {
  return target.startsWith(`${HOST_PATHS.appReleases}/`) ? target.slice(HOST_PATHS.appReleases.length + 1) : '';
}

/** Ports named by the live upstream file (`server 127.0.0.1:PORT ...;` lines). */
export function upstreamPorts(content: string | undefined): number[] {
  return [...(content ?? '').matchAll(/^server 127\.0\.0\.1:(\d+)\b/gm)].map((m) => Number(m[1]));
}

/**
 * The slot the next release takes. In place (strategy restart), or when nothing of the live slot runs
 * (the first release, the seeded upstream, a crashed release): the live one. Otherwise the one the
 * live release does not use. With no live upstream at all (a host from before releases ran side by
 * side), the first slot unless something already runs there.
 */
export function targetSlot(slots: [number[], number[]], live: number[], active: ReadonlySet<number>, inPlace: boolean): 0 | 1 {
  const index = slots.findIndex((slot) => slot.length === live.length && slot.every((p) => live.includes(p)));
  if (index === 0 || index === 1) return inPlace || !live.some((p) => active.has(p)) ? index : index === 0 ? 1 : 0;
  return !inPlace && slots[0].some((p) => active.has(p)) ? 1 : 0;
}

/** nginx's live upstream: state (which slot serves), not a rendered file. */
export const liveUpstreamFact = fileFact(HOST_PATHS.liveUpstream);

/** The upstream's servers as `mi-remote release` writes them. */
export function upstreamContent(ports: readonly number[]): string {
  return ports.map((p) => `server 127.0.0.1:${p} max_fails=3 fail_timeout=10s;\n`).join('');
}

/**
 * The first upstream file, for a site that has none yet (the first run, or a host from before
 * releases ran side by side, whose instances run on the first slot): `nginx -t` needs it. Only ever
 * created, never rewritten: after that it is the release program's.
 */
export function seedUpstreamFile(model: HostModel): RenderedFile {
  return { path: HOST_PATHS.liveUpstream, content: upstreamContent(model.app.slots[0]), mode: 0o644, owner: 'root', group: 'root', notify: [] };
}

/** One row of `releases`: a kept release, whether nginx sends traffic to it, and where it runs. */
export interface ReleaseRow {
  id: string;
  version: string | null;
  createdAt: string | null;
  by: string | null;
  migrates: boolean;
  node: string | null;
  live: boolean;
  /** Ports whose instance runs this release right now (the live one; an old one while it drains). */
  runningOn: number[];
}

/** The `releases` table from the releases fact, the current link, the instances' links and units. */
export function releaseRows(stdout: string, current: string, instanceTargets: ReadonlyMap<number, string>, activePorts: ReadonlySet<number>): ReleaseRow[] {
  const live = releaseIdOf(current);
  return parseReleases(stdout).map((r) => ({
    id: r.id,
    version: r.manifest?.version ?? null,
    createdAt: r.manifest?.createdAt ?? null,
    by: r.manifest?.by ?? null,
    migrates: r.manifest?.migrates ?? false,
    node: r.manifest?.node ?? null,
    live: r.id === live,
    runningOn: [...instanceTargets].filter(([port, target]) => releaseIdOf(target) === r.id && activePorts.has(port)).map(([port]) => port).sort((a, b) => a - b),
  }));
}
