export { EnvReader, ConfigError, isConfigError, parseConfig } from './env-config';
export { createLogger, LOG_LEVELS, type Logger, type LogLevel, type LogFields } from './logger';
export {
  ServiceError,
  isServiceError,
  isGrpcCallError,
  invalidArgument,
  notFound,
  failedPrecondition,
  resourceExhausted,
  unavailable,
  toStatus,
} from './errors';
export { openCallContext, abortedStatus, type CallContext } from './call-context';
export { SERVER_MS_TRAILER, unaryHandler, type UnaryHandler, type UnaryHandlerOptions } from './handlers';
export {
  readServerConfig,
  serviceVariablePart,
  DEFAULT_PORTS,
  DEFAULT_MAX_MESSAGE_BYTES,
  KEEPALIVE_DEFAULTS,
  type ServerConfig,
  type ServiceName,
  type KeepaliveConfig,
} from './server-config';
export { readTlsConfig, serverCredentials, clientCredentials, type TlsConfig, type ClientTls } from './tls';
export { ServiceServer, PortInUseError, type ServingStatus } from './service-server';
export { runService, shutdownDeadlineMs, RELEASE_ALLOWANCE_MS, CHECK_CONFIG_FLAG, type RunningService } from './run-service';
export { startGrpcService, type GrpcServiceOptions, type UnaryHandlersOf } from './grpc-service';
export { checkUtf8Texts, decodeUtf8Texts, readMaxBatchTexts } from './texts';
export { HealthChecker, type HealthAnswer } from './health-checker';
