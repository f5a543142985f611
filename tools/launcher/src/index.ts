export { startMesh, launchService, MESH_SERVICES, DOWNSTREAM_SERVICES, REPO_ROOT } from './mesh';
export type { MeshOptions, MeshService, RunningMesh, ServiceProcess } from './mesh';
