import { messengerInfra } from './program.js';

// Entry point for the `pulumi` CLI (Pulumi.yaml `main`); named exports become the stack outputs.
const outputs = messengerInfra();

export const serverIp = outputs.serverIp;
export const httpsUrl = outputs.httpsUrl;
export const wsUrl = outputs.wsUrl;
export const provider = outputs.provider;
export const tier = outputs.tier;
