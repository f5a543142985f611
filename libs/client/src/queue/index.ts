// `@inference-mesh/client/queue`: the queue's wire format and QueueClient. A subpath of its own so that a gRPC-only
// user of `@inference-mesh/client` never loads amqplib.
export {
  ATTEMPTS_HEADER,
  encodeRequestMessage,
  encodeResultMessage,
  GRPC_STATUS_HEADER,
  parseRequestMessage,
  parseResultMessage,
  PUBLISHED_AT_HEADER,
  REASON_HEADER,
  REQUEST_ID_HEADER,
  type ClassifyRequestMessage,
  type ClassifyErrorMessage,
  type ClassifyResultMessage,
  type ParseResult,
} from './messages';
export {
  DEFAULT_AMQP_URL,
  DEFAULT_QUEUE_NAME,
  DEFAULT_RETRY_POLICY,
  deadLetterQueueName,
  redactUrl,
  REQUEST_QUEUE_OPTIONS,
  retryDelayMs,
  retryQueueName,
  retryQueues,
  type RetryPolicy,
} from './queues';
export { connectBroker, queueDepths, type QueueDepth } from './broker';
export { isQueueSubmitError, QueueSubmitError, type QueueSubmitFailure } from './pending-replies';
export { boundedSubmissions, type BulkItem, type BulkOutcome } from './bounded';
export {
  DEFAULT_MAX_IN_FLIGHT,
  DEFAULT_SUBMIT_TIMEOUT_MS,
  QueueClient,
  type QueueClientOptions,
  type SubmitManyOptions,
  type SubmitManyOutcome,
  type SubmitOptions,
} from './queue-client';
