import type * as pulumi from '@pulumi/pulumi';
import type { InfraConfig, ProviderName } from '../config.js';

/**
 * The one interface every server provider implements; a new provider is one file exporting a
 * `ServerProvider` plus a line in `index.ts`.
 */
export interface ServerHandle {
  /** Public IPv4 of the server, known once it is running. */
  ipv4: pulumi.Output<string>;
  /** Provider-side id (the address itself for `existing`). */
  id: pulumi.Output<string>;
}

/** One server of several, on the provider's private network. */
export interface NetworkedServerHandle extends ServerHandle {
  /** Its address on the private network (the stack's servers.NAME.privateAddress). */
  privateIp: pulumi.Output<string>;
}

export interface ServerProvider {
  readonly name: ProviderName;
  /** Declares the server's resources (if any) under the given logical name. */
  create(name: string, config: InfraConfig, opts?: pulumi.CustomResourceOptions): ServerHandle;
  /**
   * Several servers on a private network of the provider's (a stack with `servers`); absent where the
   * provider offers no private network this program can declare.
   */
  createNetworked?(names: readonly string[], config: InfraConfig, opts?: pulumi.CustomResourceOptions): Record<string, NetworkedServerHandle>;
}
