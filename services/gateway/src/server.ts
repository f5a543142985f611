import { loadPipelineProto, SERVICE_NAMES } from '@inference-mesh/protos';
import { clientCredentials, ServiceServer, type Logger, type RunningService } from '@inference-mesh/service-kit';
import { AdmissionGate } from './admission';
import { createPipelineHandlers } from './handlers';
import { HOPS, type GatewayConfig, type Hop } from './config';
import { DownstreamHealthMirror, grpcHealthProbe } from './downstream-health';
import { channelTarget } from './downstream-targets';
import { channelOptions, connectDownstreams, connectModel, type ChannelSettings, type ModelDownstream } from './downstreams';
import { ModelFallback } from './fallback';
import { GatewayMetrics } from './gateway-metrics';
import { HopPolicy } from './hop-policy';
import { ClassifyPipeline, type ClassifyGuard } from './pipeline';
import { PredictionShadow } from './prediction-shadow';
import { modelServiceSplitCheck } from './split-check';
import { SplitReloader } from './split-reloader';

const HEALTH_NAMES: Readonly<Record<Hop, string>> = {
  tokenizer: SERVICE_NAMES.tokenizer,
  model: SERVICE_NAMES.inference,
  postprocess: SERVICE_NAMES.postprocess,
};

/** The fallback's downstream name in messages, logs and metrics. */
const FALLBACK_HOP = 'model-fallback';

/**
 * Connects the downstreams, puts a policy in front of each, bounds the requests in flight, adds the fallback
 * model when one is configured, and serves PipelineService; health turns SERVING once listening, and the
 * downstreams' health is mirrored from then on.
 */
export async function startGatewayServer(config: GatewayConfig, logger: Logger): Promise<RunningService> {
  const metrics = new GatewayMetrics();
  const credentials = clientCredentials(config.downstreamTls);
  const settings: ChannelSettings = { maxMessageBytes: config.server.maxMessageBytes, keepalive: config.server.keepalive, credentials };
  const downstreams = connectDownstreams(config.targets, settings);
  const policyOf = (hop: string) => new HopPolicy(hop, config.policy, logger, { metrics });
  const policies = Object.fromEntries(HOPS.map((hop) => [hop, policyOf(hop)])) as Record<Hop, HopPolicy>;

  let fallbackModel: ModelDownstream | undefined;
  let fallback: ModelFallback | undefined;
  if (config.fallback) {
    fallbackModel = connectModel(config.fallback.target, settings);
    // The same tokenizer and postprocess (and their policies); only the model calls go to the fallback deployment.
    const fallbackPipeline = new ClassifyPipeline(
      { ...downstreams, modelMetadata: fallbackModel.modelMetadata, modelInfer: fallbackModel.modelInfer },
      { ...policies, model: policyOf(FALLBACK_HOP) },
      { defaultModel: config.defaultModel, maxBatchTexts: config.maxBatchTexts, coalescing: config.coalescing, metrics },
    );
    fallback = new ModelFallback(config.fallback, config.defaultModel, (input, budget) => fallbackPipeline.classify(input, budget), logger);
  }
  const admission = new AdmissionGate(config.maxInFlight, metrics);
  const guard: ClassifyGuard = (input, budget, next) =>
    admission.run(() => (fallback ? fallback.around(input, budget, next) : next(input, budget)));
  const server = new ServiceServer(config.server, logger);
  // The split of unpinned requests: IMESH_MODEL_VERSION_WEIGHTS, or the mounted file, re-read while serving. A
  // split is checked against the model service; with none good left, readiness turns NOT_SERVING (README, "Canary releases").
  const split = new SplitReloader({
    initial: config.modelVersionWeights,
    ...(config.modelVersionWeightsFile !== undefined && { file: config.modelVersionWeightsFile }),
    pollIntervalMs: config.modelVersionWeightsPollMs,
    check: modelServiceSplitCheck(downstreams, config.defaultModel),
    logger,
    metrics,
    onUsable: (usable) => server.setHealth(SERVICE_NAMES.pipeline, usable ? 'SERVING' : 'NOT_SERVING'),
  });
  split.load();
  // Prediction agreement: a sample of the split's answers compared with another version's (README, "Canary releases").
  const shadow = config.shadowing && new PredictionShadow(downstreams, config.shadowing, { metrics, logger });
  const classifyPipeline = new ClassifyPipeline(downstreams, policies, {
    ...config,
    liveVersionSplit: split.live,
    guard,
    metrics,
    modelCalls: metrics,
    ...(shadow && { shadow }),
  });

  const proto = loadPipelineProto();
  server.addService(
    SERVICE_NAMES.pipeline,
    proto.grpc.inference_mesh.pipeline.v1.PipelineService.service,
    createPipelineHandlers(classifyPipeline, config, logger),
    proto.packageDefinition,
  );
  const mirror = new DownstreamHealthMirror(
    new Map(HOPS.map((hop) => [HEALTH_NAMES[hop], grpcHealthProbe(channelTarget(config.targets[hop]), channelOptions(settings), credentials)])),
    (name, status) => {
      server.setHealth(name, status);
      logger.info('downstream health', { service: name, status });
    },
    config.healthPollIntervalMs,
  );
  await server.start();
  server.setServing(true);
  split.start();
  await mirror.start();
  logger.info('downstreams', {
    ...config.targets,
    tls: config.downstreamTls ? 'on' : 'off',
    ...(config.fallback && { fallback: `${config.fallback.model}/${config.fallback.version} at ${config.fallback.target}` }),
  });
  return {
    shutdown: async () => {
      split.stop();
      mirror.stop();
      await server.shutdown();
      shadow?.close();
      downstreams.close();
      fallbackModel?.close();
    },
  };
}
