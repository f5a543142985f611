import { runInstrumentedService } from '@inference-mesh/telemetry';
import { readPostprocessConfig } from './config';
import { startPostprocessServer } from './server';

runInstrumentedService('postprocess', readPostprocessConfig, startPostprocessServer);
