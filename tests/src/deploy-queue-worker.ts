// k8s/queue-worker read for the tests: its build, and the ScaledObject's scaling settings as numbers. A module of
// its own rather than exports of deploy-queue-worker.test.ts, so that another test file (one that checks a real
// broker's management API against activationValue, say) imports them without registering that file's suites.
import { join } from 'node:path';
import type { Manifest } from './deploy-schemas';
import { buildKustomization, named, REPO_ROOT, type Json } from './deploy-support';

export const QUEUE_WORKER_DIR = join(REPO_ROOT, 'k8s', 'queue-worker');
export const QUEUE_WORKER_NAME = 'queue-worker';

let built: Manifest[] | undefined;

/** `kubectl kustomize k8s/queue-worker`, parsed once per process (kubectl takes a second or two). */
export function buildQueueWorker(): Manifest[] {
  built ??= buildKustomization(QUEUE_WORKER_DIR);
  return built;
}

/** What KEDA scales the worker on: the ScaledObject's rabbitmq trigger and replica bounds, numbers as numbers. */
export interface QueueWorkerScaling {
  /** The ScaledObject's name. */
  readonly name: string;
  /** The Deployment it scales. */
  readonly target: string;
  readonly queueName: string;
  /** The trigger's vhostName: `/` for the default vhost. */
  readonly vhostName: string;
  readonly mode: string;
  readonly protocol: string;
  /** Messages (ready + unacked, as the management API counts them) per replica. */
  readonly value: number;
  /** KEDA starts the first replica when the queue's count exceeds this. */
  readonly activationValue: number;
  readonly minReplicaCount: number;
  readonly maxReplicaCount: number;
  readonly pollingInterval: number;
  readonly cooldownPeriod: number;
  /** The TriggerAuthentication the trigger names. */
  readonly authenticationRef: string;
}

/**
 * The queue worker's ScaledObject as built from k8s/queue-worker (or from `manifests`), with KEDA's defaults
 * (pollingInterval 30, cooldownPeriod 300, minReplicaCount 0, maxReplicaCount 100, activationValue 0) where a field
 * is unset. Throws unless it has exactly one rabbitmq trigger.
 */
export function readQueueWorkerScaledObject(manifests: readonly Manifest[] = buildQueueWorker()): QueueWorkerScaling {
  const scaledObject: Json = named(manifests, 'ScaledObject', QUEUE_WORKER_NAME);
  const triggers: Json[] = scaledObject.spec.triggers ?? [];
  if (triggers.length !== 1 || triggers[0].type !== 'rabbitmq') {
    throw new Error(`ScaledObject ${QUEUE_WORKER_NAME}: expected one rabbitmq trigger, found ${JSON.stringify(triggers.map((t) => t.type))}`);
  }
  const [trigger] = triggers as [Json];
  const metadata: Record<string, string> = trigger.metadata ?? {};
  const number = (field: string, fallback?: number): number => {
    const text = metadata[field];
    if (text === undefined && fallback !== undefined) return fallback;
    const value = Number(text);
    if (text === undefined || text.trim() === '' || !Number.isFinite(value)) throw new Error(`ScaledObject ${QUEUE_WORKER_NAME}: trigger ${field} ${JSON.stringify(text)} is not a number`);
    return value;
  };
  return {
    name: scaledObject.metadata.name,
    target: scaledObject.spec.scaleTargetRef.name,
    queueName: metadata['queueName'] ?? '',
    vhostName: metadata['vhostName'] ?? '',
    mode: metadata['mode'] ?? '',
    protocol: metadata['protocol'] ?? 'auto',
    value: number('value'),
    activationValue: number('activationValue', 0),
    minReplicaCount: scaledObject.spec.minReplicaCount ?? 0,
    maxReplicaCount: scaledObject.spec.maxReplicaCount ?? 100,
    pollingInterval: scaledObject.spec.pollingInterval ?? 30,
    cooldownPeriod: scaledObject.spec.cooldownPeriod ?? 300,
    authenticationRef: trigger.authenticationRef?.name ?? '',
  };
}
