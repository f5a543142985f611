import { recordModelColdStart, runInstrumentedService } from '@inference-mesh/telemetry';
import { readModelServiceConfig } from './config';
import { startModelService } from './model-service';

runInstrumentedService('model', readModelServiceConfig, async (config, logger) => {
  const service = await startModelService(config, logger);
  // startModelService resolves once health says SERVING: every READY version started serving just now.
  recordModelColdStart(service.registry.versions.filter((version) => version.state === 'READY'));
  return service;
});
