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
