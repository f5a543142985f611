import { runInstrumentedService } from '@inference-mesh/telemetry';
import { readGatewayConfig } from './config';
import { startGatewayService } from './gateway-service';

runInstrumentedService('gateway', readGatewayConfig, startGatewayService);
