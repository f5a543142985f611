import { loadPipelineProto, SERVICE_NAMES } from '@inference-mesh/protos';
import { ServiceServer, type Logger, type RunningService } from '@inference-mesh/service-kit';
import { createPipelineHandlers } from './classify-service';
import { HOPS, type GatewayConfig, type Hop } from './config';
import { DownstreamHealthMirror, grpcHealthProbe } from './downstream-health';
import { channelOptions, connectDownstreams } from './downstreams';
import { HopPolicy } from './hop-policy';
import { ClassifyPipeline } from './pipeline';

const HEALTH_NAMES: Readonly<Record<Hop, string>> = {
  tokenizer: SERVICE_NAMES.tokenizer,
  model: SERVICE_NAMES.inference,
  postprocess: SERVICE_NAMES.postprocess,
};

/**
 * Connects the downstreams, puts a policy in front of each, and serves PipelineService; health turns SERVING
 * once listening, and the downstreams' health is mirrored from then on.
 */
export async function startGatewayService(config: GatewayConfig, logger: Logger): Promise<RunningService> {
  const settings = { maxMessageBytes: config.server.maxMessageBytes };
  const downstreams = connectDownstreams(config.targets, settings);
  const policies = Object.fromEntries(HOPS.map((hop) => [hop, new HopPolicy(hop, config.policy, logger)])) as Record<Hop, HopPolicy>;
  const classifyPipeline = new ClassifyPipeline(downstreams, policies, config);
  const server = new ServiceServer(config.server, logger);
  const proto = loadPipelineProto();
  server.addService(
    SERVICE_NAMES.pipeline,
    proto.grpc.inference_mesh.pipeline.v1.PipelineService.service,
    createPipelineHandlers(classifyPipeline, config, logger),
    proto.packageDefinition,
  );
  const mirror = new DownstreamHealthMirror(
    new Map(HOPS.map((hop) => [HEALTH_NAMES[hop], grpcHealthProbe(config.targets[hop], channelOptions(settings))])),
    (name, status) => {
      server.setHealth(name, status);
      logger.info('downstream health', { service: name, status });
    },
    config.healthPollIntervalMs,
  );
  await server.start();
  server.setServing(true);
  await mirror.start();
  logger.info('downstreams', { ...config.targets });
  return {
    shutdown: async () => {
      mirror.stop();
      await server.shutdown();
      downstreams.close();
    },
  };
}
