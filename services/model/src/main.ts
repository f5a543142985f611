import { runService } from '@inference-mesh/service-kit';
import { readModelServiceConfig } from './config';
import { startModelService } from './model-service';

runService('model', readModelServiceConfig, (config, logger) => startModelService(config, logger));
