import { runInstrumentedService } from '@inference-mesh/telemetry';
import { readPostprocessConfig } from './config';
import { startPostprocessService } from './service';

runInstrumentedService('postprocess', readPostprocessConfig, startPostprocessService);
