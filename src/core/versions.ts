/**
 * Software versions the toolkit installs, pinned in this one place. Node.js comes from the npm
 * registry's repackaged release binaries (`node-linux-<arch>`), checked against the registry's
 * integrity hash, so the same bytes land on every VPS whatever its distribution ships.
 */
export interface NodeRelease {
  version: string;
  /** Subresource-integrity strings (sha512) of the registry tarballs, per CPU architecture. */
  integrity: Record<NodeArch, string>;
}

export type NodeArch = 'x64' | 'arm64';

export const NODE_RELEASE: NodeRelease = {
  version: '24.21.0',
  integrity: {
    x64: 'sha512-3nULszZ5X0fciYpG0t6TrdApJzAn8+FlINP6OiMX7V8HrvpATPN936U1LlReOJriLRa4e8yEqQBYCnLyPNAs7Q==',
    arm64: 'sha512-FpJRPEz2OvvTLfjIOlNGFY9JLPMKgl5m+d4oGYBLg24kJ1mmvN1Zl/HPJgF4HDaJ51ISev1l1cRZ/DM+keXW5g==',
  },
};

export const NPM_REGISTRY = 'https://registry.npmjs.org';

/** npm for builds on the host: the registry's node-linux-* packages carry only bin/node. */
export const NPM_RELEASE = {
  version: '11.21.2',
  integrity: 'sha512-7HPApk+AflMUavSseL1Pm6CnYqMIHk53x+KmuhqmTDqPkjPMgxIpTPcTqsE91EKNw4gFBJV9fnXiSdGm1DXq9A==',
} as const;

export function npmTarballUrl(version: string): string {
  return `${NPM_REGISTRY}/npm/-/npm-${version}.tgz`;
}

/** Tarball URL of a repackaged Node.js release on the npm registry. */
export function nodeTarballUrl(version: string, arch: NodeArch): string {
  return `${NPM_REGISTRY}/node-linux-${arch}/-/node-linux-${arch}-${version}.tgz`;
}

export const LETS_ENCRYPT_DIRECTORY = 'https://acme-v02.api.letsencrypt.org/directory';
