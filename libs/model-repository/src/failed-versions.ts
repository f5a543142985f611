import { failedPrecondition, type ServiceError } from '@inference-mesh/service-kit';

/**
 * The one answer every service gives for a model version that exists in the repository but failed to load:
 * FAILED_PRECONDITION with the load error. Not NOT_FOUND: the name exists, and NOT_FOUND is for names that do not.
 * Not UNAVAILABLE (Triton's choice): a failed load stays failed until the server restarts with a fixed folder, and
 * UNAVAILABLE tells callers and proxies to retry, fail over and trip breakers.
 */
export function versionFailedToLoad(model: string, version: string, reason: string): ServiceError {
  return failedPrecondition(`model ${quoteModelName(model)} version ${version} failed to load: ${reason}`);
}

/** The same answer for a request that names no version, when not one version of the model loaded. */
export function noVersionLoaded(model: string, failures: readonly { readonly version: string; readonly reason: string }[]): ServiceError {
  const reasons = failures.map((failure) => `version ${failure.version}: ${failure.reason}`);
  return failedPrecondition(`model ${quoteModelName(model)} has no version that loaded (${reasons.join('; ')})`);
}

/** Names come from requests: quoted, and cut so that a megabyte-long name does not make a megabyte message. */
export function quoteModelName(name: string): string {
  return JSON.stringify(name.length > 100 ? `${name.slice(0, 100)}...` : name);
}
