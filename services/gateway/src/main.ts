import { runService } from '@inference-mesh/service-kit';
import { readGatewayConfig } from './config';
import { startGatewayService } from './gateway-service';

runService('gateway', readGatewayConfig, startGatewayService);
