/** A prom-client registry per process, with Node's default metrics (event-loop lag, heap, RSS). */
import { Registry, collectDefaultMetrics } from "prom-client";

export function createRegistry(component: string, nodeName: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ component, node: nodeName });
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 20 });
  return registry;
}
