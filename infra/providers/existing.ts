import * as pulumi from '@pulumi/pulumi';
import type { InfraConfig } from '../config.js';
import type { ServerHandle, ServerProvider } from './types.js';

/** A server someone already has: nothing is created; the given address is the server. */
export const existingProvider: ServerProvider = {
  name: 'existing',
  create(_name: string, config: InfraConfig): ServerHandle {
    const address = pulumi.output(config.serverAddress ?? '');
    return { ipv4: address, id: address };
  },
};
