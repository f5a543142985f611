import { recordModelColdStart, runInstrumentedService } from '@inference-mesh/telemetry';
import { readModelServiceConfig } from './config';
import { startModelServer } from './server';

runInstrumentedService('model', readModelServiceConfig, async (config, logger) => {
  const service = await startModelServer(config, logger);
  // startModelServer resolves once health says SERVING: every READY version started serving just now.
  recordModelColdStart(service.registry.versions.filter((version) => version.state === 'READY'));
  return service;
});
