import { runInstrumentedService } from '@inference-mesh/telemetry';
import { readQueueWorkerConfig } from './config';
import { startQueueWorkerService } from './server';

runInstrumentedService('queue-worker', readQueueWorkerConfig, startQueueWorkerService);
