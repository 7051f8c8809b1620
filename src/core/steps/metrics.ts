import { factValue, unitFact } from '../facts.js';
import { fileFacts, planFileGroup } from '../file-plan.js';
import { HOST_PATHS } from '../host-model.js';
import { ensureRunning, mergePlans, noChange, type Step } from '../step.js';

/**
 * Debian's prometheus-node-exporter, when the stack asks for it (`metrics.nodeExporter: true`): bound
 * to loopback by its defaults file, so host metrics are read by an agent or through an SSH tunnel,
 * never from the internet. Installed by the packages step.
 */
const exporterUnit = unitFact('prometheus-node-exporter');

export const nodeExporterStep: Step = {
  id: 'node-exporter',
  title: 'host metrics (prometheus-node-exporter on loopback)',
  applies: (desired) => desired.stack.metrics.nodeExporter,
  facts: (desired) => [exporterUnit, ...fileFacts(desired.files.full.filter((f) => f.path === HOST_PATHS.nodeExporterDefaults))],
  plan(facts, desired) {
    const files = planFileGroup(desired.files.full.filter((f) => f.path === HOST_PATHS.nodeExporterDefaults), facts, 'bind the node exporter to loopback');
    // A changed defaults file restarts (and enables) the unit anyway.
    return mergePlans(files, files.commands.length > 0 ? noChange() : ensureRunning('prometheus-node-exporter', factValue(facts, exporterUnit)));
  },
};
