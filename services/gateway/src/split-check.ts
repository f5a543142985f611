import { status, type ServiceError as GrpcError } from '@grpc/grpc-js';
import type { ModelDownstream } from './downstreams';
import type { VersionWeight } from './version-split';

/** What the model service says about a split's versions. */
export type SplitVerdict =
  | { readonly kind: 'served' }
  | {
      readonly kind: 'refused';
      readonly reason: 'unknown_version' | 'not_ready';
      /** The split's versions (with a weight above 0) that cannot serve. */
      readonly missing: readonly string[];
      /** The versions the model service answered for: the ones it listed plus the split's that checked out. */
      readonly available: readonly string[];
      /** The model service's own words, one per missing version. */
      readonly message: string;
    }
  /** No answer (the model service unreachable, a deadline): nothing is decided, the check runs again later. */
  | { readonly kind: 'unknown'; readonly message: string };

export type SplitCheck = (weights: readonly VersionWeight[]) => Promise<SplitVerdict>;

/** A check's calls are small; a model service that takes longer is as good as unreachable for this purpose. */
const CHECK_TIMEOUT_MS = 2_000;

/**
 * Checks a split against the model service with the call the pipeline itself makes first for a version:
 * ModelMetadata for `model` at that version, carrying x-model-version, so that under Istio each call reaches the
 * pods serving that version (a version no route knows lands on some model pod, which answers NOT_FOUND). Each
 * version with a weight above 0 must answer: NOT_FOUND (no such version) or FAILED_PRECONDITION (it failed to
 * load) refuses the split; any other failure leaves it undecided. Versions at weight 0 get no traffic and are not
 * checked (a split `1=100,2=0` is how a canary is rolled back while its pods are gone). The check goes around
 * the model hop's policy: it must neither spend the requests' retry budget nor open their circuit.
 */
export function modelServiceSplitCheck(model: Pick<ModelDownstream, 'modelMetadata'>, modelName: string, timeoutMs = CHECK_TIMEOUT_MS): SplitCheck {
  const metadata = (version: string) =>
    model.modelMetadata({ name: modelName, version }, { deadlineMs: Date.now() + timeoutMs, signal: new AbortController().signal });
  return async (weights) => {
    const versions = weights.filter((w) => w.weight > 0).map((w) => w.version);
    const answers = await Promise.all(versions.map((version) => metadata(version).then(() => undefined, (error: GrpcError) => error)));
    const undecided = answers.find((error) => error && error.code !== status.NOT_FOUND && error.code !== status.FAILED_PRECONDITION);
    if (undecided) return { kind: 'unknown', message: undecided.details || undecided.message };
    const missing = versions.filter((_, i) => answers[i] !== undefined);
    if (missing.length === 0) return { kind: 'served' };
    // The versions there are, as the model service lists them for a call without a version (under Istio: the
    // pods that call reached), and the split's own versions that answered.
    const listed = await metadata('').then(
      (response) => response.versions,
      () => [] as string[],
    );
    const available = [...new Set([...listed, ...versions.filter((_, i) => answers[i] === undefined)])].sort((a, b) => Number(a) - Number(b));
    const errors = answers.filter((error): error is GrpcError => error !== undefined);
    return {
      kind: 'refused',
      reason: errors.some((error) => error.code === status.NOT_FOUND) ? 'unknown_version' : 'not_ready',
      missing,
      available,
      message: errors.map((error) => error.details || error.message).join('; '),
    };
  };
}
