import { runInstrumentedService } from '@inference-mesh/telemetry';
import { readGatewayConfig } from './config';
import { startGatewayServer } from './server';

runInstrumentedService('gateway', readGatewayConfig, startGatewayServer);
