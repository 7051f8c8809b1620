import { isIP } from 'node:net';
import { z } from 'zod';
import { TIER_NAMES } from '../core/tiers.js';
import { LETS_ENCRYPT_DIRECTORY, NODE_RELEASE } from '../core/versions.js';

/**
 * The stack configuration: one YAML file per environment (`stacks/<name>.yaml`), overridden by CLI
 * flags. Each section validates itself and holds its defaults, so bad input fails at load time with
 * the field's path, never halfway through a deploy.
 */

const HOSTNAME_LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

/** A host name of one or more DNS labels (chat-1, chat.example.com): what a server may be called. */
export function isDnsName(value: string): boolean {
  return value.length <= 253 && value.toLowerCase().split('.').every((label) => HOSTNAME_LABEL.test(label));
}

/** A DNS name with at least two labels and an alphabetic top-level label (chat.example.com). */
export function isHostname(value: string): boolean {
  const labels = value.toLowerCase().split('.');
  return isDnsName(value) && labels.length >= 2 && /^[a-z]{2,63}$/.test(labels[labels.length - 1] ?? '');
}

// Deliberately simple: one @, a non-empty local part without spaces, and a hostname.
export function isEmail(value: string): boolean {
  const at = value.lastIndexOf('@');
  if (at < 1) return false;
  return !/\s/.test(value.slice(0, at)) && isHostname(value.slice(at + 1));
}

// The message also on the base type, so a missing field says what it must be (see toConfigError).
const HOSTNAME_RULE = 'must be a hostname like chat.example.com';
const EMAIL_RULE = 'must be an e-mail address like ops@example.com';
const hostname = z.string({ message: HOSTNAME_RULE }).refine(isHostname, { message: HOSTNAME_RULE });
const port = z
  .number({ message: 'must be a whole number from 1 to 65535' })
  .int({ message: 'must be a whole number from 1 to 65535' })
  .min(1, { message: 'must be a whole number from 1 to 65535' })
  .max(65535, { message: 'must be a whole number from 1 to 65535' });
const httpsUrl = z.string().refine((v) => URL.canParse(v) && new URL(v).protocol === 'https:', {
  message: 'must be an https:// URL',
});
const filePath = z.string().min(1, { message: 'must be a file path' });

/** A secret given by reference, never inline: an environment variable or a file on the control machine. */
export const secretRef = z.union(
  [
    z.strictObject({ env: z.string().regex(/^[A-Z_][A-Z0-9_]*$/, { message: 'must be an environment variable name' }) }),
    z.strictObject({ file: filePath }),
  ],
  { message: 'must be { env: NAME } or { file: PATH }' },
);

export const sshSection = z.strictObject({
  user: z.string().regex(/^[a-z_][a-z0-9_-]*$/, { message: 'must be a Unix user name like root or deploy' }).default('root'),
  port: port.default(22),
  key: filePath.optional(),
  knownHosts: filePath.optional(),
});

export const targetSection = z.strictObject({
  // Optional here: `up --provider` creates the host (and knows its address) after the stack is loaded;
  // the commands that connect require it (cli/target-options.ts sshTargetOf).
  host: z
    .string()
    .refine((v) => isIP(v) !== 0 || isHostname(v) || v === 'localhost', {
      message: 'must be an IP address or a hostname',
    })
    .optional(),
  ssh: sshSection.default({ user: 'root', port: 22 }),
});

export const acmeSection = z.strictObject({
  server: httpsUrl.default(LETS_ENCRYPT_DIRECTORY),
  /** CA bundle the host's certbot must trust to reach a private ACME server (uploaded by the tool). */
  caBundle: filePath.optional(),
});

export const appSection = z.strictObject({
  port: port.default(3000),
  allowedOrigins: z
    .array(z.string().refine((v) => URL.canParse(v) && new URL(v).origin === v, { message: 'must be an origin like https://chat.example.com' }))
    .optional(),
  jwtSecret: secretRef.optional(),
});

export const nodeSection = z.strictObject({
  version: z
    .string()
    .regex(/^\d+\.\d+\.\d+$/, { message: 'must be an exact version like 24.21.0' })
    .default(NODE_RELEASE.version),
  /** sha512 integrity of the registry tarball; required with a version other than the pinned one. */
  integrity: z.string().regex(/^sha512-[A-Za-z0-9+/=]+$/, { message: 'must be an sha512-… integrity string' }).optional(),
});

/** What the host exposes for scraping, all on loopback only (an agent or an SSH tunnel reads it). */
export const metricsSection = z.strictObject({
  /** Debian's prometheus-node-exporter on 127.0.0.1:9100 (host CPU, memory, disk, network). */
  nodeExporter: z.boolean({ message: 'must be true or false' }).default(false),
});

export const stackSchema = z.strictObject({
  tier: z.enum(TIER_NAMES, { message: `must be one of ${TIER_NAMES.join(', ')}` }),
  // DNS names are case-insensitive, but certbot's live/ folder and the certificate's names are
  // lowercase: a mixed-case domain would never match them and force a renewal on every run.
  domain: hostname.transform((v) => v.toLowerCase()),
  email: z.string({ message: EMAIL_RULE }).refine(isEmail, { message: EMAIL_RULE }),
  target: targetSection.optional(),
  acme: acmeSection.default({ server: LETS_ENCRYPT_DIRECTORY }),
  verify: z
    .strictObject({
      ca: filePath.optional(),
      /**
       * Connect to this address with the domain as SNI and Host, as `up`'s closing check does: for a
       * server DNS does not point at yet (before the cut-over), or a private test host.
       */
      address: z.string().refine((v) => isIP(v) !== 0, { message: 'must be an IP address like 203.0.113.10' }).optional(),
    })
    .default({}),
  app: appSection.default({ port: 3000 }),
  node: nodeSection.default({ version: NODE_RELEASE.version }),
  metrics: metricsSection.default({ nodeExporter: false }),
});

export type StackInput = z.input<typeof stackSchema>;
export type StackConfig = z.output<typeof stackSchema>;
export type SecretRef = z.output<typeof secretRef>;
