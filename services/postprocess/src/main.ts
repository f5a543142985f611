import { runService } from '@inference-mesh/service-kit';
import { readPostprocessConfig } from './config';
import { startPostprocessService } from './service';

runService('postprocess', readPostprocessConfig, startPostprocessService);
