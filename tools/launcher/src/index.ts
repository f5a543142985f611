export {
  startMesh,
  launchService,
  terminate,
  exitOf,
  MeshStartError,
  MESH_SERVICES,
  DOWNSTREAM_SERVICES,
  DEFAULT_RESTART_POLICY,
  REPO_ROOT,
} from './mesh';
export type { MeshEvent, MeshOptions, MeshService, RestartPolicy, RunningMesh, ServiceProcess } from './mesh';
export { freePort } from './free-port';
export { startLocalBroker, BROKER_START_TIMEOUT_MS, BROKER_STOP_TIMEOUT_MS } from './local-broker';
export type { LocalBroker, LocalBrokerOptions } from './local-broker';
export { startQueueWorker, stopQueueWorker } from './queue-worker-process';
export type { QueueWorkerProcess } from './queue-worker-process';
