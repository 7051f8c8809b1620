import type { ProviderName } from '../config.js';
import { InfraError } from '../errors.js';
import { begetProvider } from './beget.js';
import { existingProvider } from './existing.js';
import { hcloudProvider } from './hcloud.js';
import type { ServerProvider } from './types.js';

/** Adding a provider: one file exporting a ServerProvider, one line here. */
const PROVIDERS: Readonly<Record<ProviderName, ServerProvider>> = {
  beget: begetProvider,
  hcloud: hcloudProvider,
  existing: existingProvider,
};

export function getServerProvider(name: ProviderName): ServerProvider {
  const provider = PROVIDERS[name];
  if (!provider) throw new InfraError('MI_ERR_CONFIG', `stack config "provider": unknown provider "${name}"; fix: pulumi config set provider beget`);
  return provider;
}

export type { ServerHandle, ServerProvider } from './types.js';
