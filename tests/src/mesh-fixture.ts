import { startMesh, type MeshOptions, type RunningMesh } from '@inference-mesh/launcher';

/**
 * Starts the real mesh (four processes on free loopback ports) for one mocha suite and stops it after.
 * Service logs are kept and printed only when a test in the suite fails.
 */
export function useMesh(options: MeshOptions = {}): { readonly mesh: RunningMesh; readonly logs: string[] } {
  const state = { mesh: undefined as RunningMesh | undefined, logs: [] as string[] };
  before(async function () {
    this.timeout(120_000);
    state.mesh = await startMesh({ ...options, onLog: (service, line) => state.logs.push(`${service}: ${line}`) });
  });
  afterEach(function () {
    if (this.currentTest?.state === 'failed') process.stderr.write(`--- service logs (last 40 lines)\n${state.logs.slice(-40).join('\n')}\n`);
  });
  after(async function () {
    this.timeout(30_000);
    await state.mesh?.stop();
  });
  return {
    get mesh() {
      if (!state.mesh) throw new Error('the mesh is not running');
      return state.mesh;
    },
    logs: state.logs,
  };
}
