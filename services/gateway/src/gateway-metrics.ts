import { status } from '@grpc/grpc-js';
import { metrics, ValueType, type Attributes, type Counter, type Histogram, type Meter, type UpDownCounter } from '@opentelemetry/api';
import type { CircuitState } from './circuit-breaker';
import type { VersionWeight } from './version-split';

/** The gauge's value per state: 0 closed, 1 open, 2 half-open (alert on > 0). */
export const BREAKER_STATE_VALUES: Readonly<Record<CircuitState, number>> = { closed: 0, open: 1, 'half-open': 2 };

/** The `downstream` value of `imesh.gateway.shed` for requests refused by the gateway's own in-flight limit. */
export const GATEWAY_SHED_SOURCE = 'gateway';

/** The `version` of `imesh.gateway.version.weight` when no split is in force: unpinned requests get the latest version. */
export const LATEST_VERSION_LABEL = 'latest';

/** Why a split was not loaded: it names a version the model service does not serve, one that is not ready, or is no split at all. */
export type SplitRefusal = 'unknown_version' | 'not_ready' | 'malformed';

/** The `agreement` of `imesh.gateway.shadow.rows`: a row's shadow answer has the served answer's label, or not. */
export type ShadowAgreement = 'agree' | 'disagree';

/** The attributes of one (model, served version, shadow version) pair; `agreement` values and status codes added. */
interface ShadowPairAttributes {
  readonly pair: Attributes;
  readonly agree: Attributes;
  readonly disagree: Attributes;
  readonly byStatus: Map<string, Attributes>;
}

/** The attributes of one (model, version)'s model calls: the duration's, and the counter's per status code (indexed by the code's number). */
interface ModelVersionAttributes {
  readonly version: Attributes;
  readonly byStatus: (Attributes | undefined)[];
}

/** A whole model hop, retries and backoff included: a millisecond to the longest deadline. */
const MODEL_CALL_BUCKETS_S = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** A hop's own cost is a grpc-js round trip: tens of microseconds to tens of milliseconds. */
const HOP_OVERHEAD_BUCKETS_S = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];

/**
 * The gateway's resilience metrics, through @opentelemetry/api only: without an SDK installed they cost nothing;
 * the service's telemetry setup decides where they go. Attribute objects are made once per downstream, so
 * recording allocates nothing.
 */
export class GatewayMetrics {
  private readonly breakers = new Map<string, { readonly attributes: Attributes; readonly state: () => CircuitState }>();
  private readonly attributes = new Map<string, Attributes>();
  private readonly retries: Counter;
  private readonly shed: Counter;
  private readonly inFlight: UpDownCounter;
  private readonly hopOverhead: Histogram;
  private readonly hopAttributes = new Map<string, Attributes>();
  private versionWeights: (() => readonly VersionWeight[]) | undefined;
  private readonly versionAttributes = new Map<string, Attributes>();
  private readonly splitRefused: Counter;
  private readonly refusalAttributes = new Map<string, Attributes>();
  private readonly shadowRows: Counter;
  private readonly shadowScoreDifference: Counter;
  private readonly shadowShed: Counter;
  private readonly shadowFailed: Counter;
  private readonly shadowPairs = new Map<string, ShadowPairAttributes>();
  private readonly modelCalls: Counter;
  private readonly modelCallDuration: Histogram;
  /** model name -> version -> attributes: two lookups, no key string built per call. */
  private readonly modelVersions = new Map<string, Map<string, ModelVersionAttributes>>();

  constructor(meter: Meter = metrics.getMeter('@inference-mesh/gateway')) {
    meter
      .createObservableGauge('imesh.gateway.breaker.state', {
        description: 'Circuit breaker state per downstream: 0 closed, 1 open, 2 half-open',
        unit: '1',
        valueType: ValueType.INT,
      })
      .addCallback((result) => {
        for (const { attributes, state } of this.breakers.values()) result.observe(BREAKER_STATE_VALUES[state()], attributes);
      });
    this.retries = meter.createCounter('imesh.gateway.retries', {
      description: 'Retries sent to a downstream (first attempts not counted)',
      unit: '{retry}',
      valueType: ValueType.INT,
    });
    this.shed = meter.createCounter('imesh.gateway.shed', {
      description: 'Requests refused with RESOURCE_EXHAUSTED by load shedding: per downstream bulkhead, or "gateway" for its in-flight limit',
      unit: '{request}',
      valueType: ValueType.INT,
    });
    this.inFlight = meter.createUpDownCounter('imesh.gateway.inflight', {
      description: 'Pipeline requests the gateway is working on',
      unit: '{request}',
      valueType: ValueType.INT,
    });
    this.hopOverhead = meter.createHistogram('imesh.gateway.hop.overhead.duration', {
      description: "Per internal call, by hop: the time the gateway observed minus the service's own (its imesh-server-ms trailer): network, HTTP/2, protobuf and grpc-js on both ends",
      unit: 's',
      advice: { explicitBucketBoundaries: HOP_OVERHEAD_BUCKETS_S },
    });
    meter
      .createObservableGauge('imesh.gateway.version.weight', {
        description: `The default model's version split in force: percent of unpinned requests per version (version="${LATEST_VERSION_LABEL}" at 100: no split, the latest version)`,
        unit: '%',
        valueType: ValueType.INT,
      })
      .addCallback((result) => {
        if (!this.versionWeights) return;
        const weights = this.versionWeights();
        const current = new Map<string, number>(weights.length === 0 ? [[LATEST_VERSION_LABEL, 100]] : weights.map((w) => [w.version, w.weight]));
        // A version reported once keeps its series, at 0 once it leaves the split (the SDK would repeat its last value).
        for (const version of this.versionAttributes.keys()) if (!current.has(version)) result.observe(0, this.versionAttributes.get(version)!);
        for (const [version, weight] of current) result.observe(weight, cachedAttributes(this.versionAttributes, 'version', version));
      });
    this.splitRefused = meter.createCounter('imesh.gateway.version.split.refused', {
      description: 'Version splits the gateway refused to load (the last good one stayed in force), by reason: unknown_version, not_ready, malformed',
      unit: '{split}',
      valueType: ValueType.INT,
    });
    // The model hop per version as the gateway's callers see it (what `imesh canary --source gateway` compares):
    // a canary whose pods cannot be reached, or a proxy failing its calls, never shows in the model's own metrics.
    this.modelCalls = meter.createCounter('imesh.gateway.model.calls', {
      description:
        "Merged ModelInfer calls of the pipeline by model_name, model_version and the call's final gRPC status code after the gateway's retries (shadow calls not counted)",
      unit: '{call}',
      valueType: ValueType.INT,
    });
    this.modelCallDuration = meter.createHistogram('imesh.gateway.model.call.duration', {
      description: 'The whole model hop of a merged pipeline call as the gateway saw it, every attempt, retry and backoff included, by model_name and model_version',
      unit: 's',
      advice: { explicitBucketBoundaries: MODEL_CALL_BUCKETS_S },
    });
    // Prediction agreement (prediction-shadow.ts): agree / (agree + disagree) rows, and the score difference's
    // sum over the same rows, so that its mean is the ratio of the two counters' increases.
    this.shadowRows = meter.createCounter('imesh.gateway.shadow.rows', {
      description: "Rows answered by the split's version (served_version) and compared with another version's answer for the same inputs (shadow_version), by agreement: agree (same label) or disagree",
      unit: '{row}',
      valueType: ValueType.INT,
    });
    this.shadowScoreDifference = meter.createCounter('imesh.gateway.shadow.score.difference', {
      description: "Sum over compared rows of |served score - shadow score| (each version's score for its own label); divided by the rows' increase: the mean absolute score difference",
      unit: '1',
      valueType: ValueType.DOUBLE,
    });
    this.shadowShed = meter.createCounter('imesh.gateway.shadow.shed', {
      description: 'Sampled shadow calls dropped because IMESH_SHADOW_MAX_IN_FLIGHT were already running (shed before any caller is)',
      unit: '{call}',
      valueType: ValueType.INT,
    });
    this.shadowFailed = meter.createCounter('imesh.gateway.shadow.failed', {
      description: "Shadow calls that failed (by gRPC status code, e.g. FAILED_PRECONDITION when the shadow version's tokenizer differs, DEADLINE_EXCEEDED past IMESH_SHADOW_TIMEOUT_MS); their rows are not compared",
      unit: '{call}',
      valueType: ValueType.INT,
    });
  }

  /**
   * One merged model call of the pipeline, after its retries: `code` its final status (OK on an answer), `seconds`
   * the whole hop. One counter add and one histogram record; the attributes are made once per version and code.
   */
  recordModelCall(modelName: string, modelVersion: string, code: status, seconds: number): void {
    let versions = this.modelVersions.get(modelName);
    if (!versions) {
      versions = new Map();
      this.modelVersions.set(modelName, versions);
    }
    let attributes = versions.get(modelVersion);
    if (!attributes) {
      attributes = { version: Object.freeze({ 'model.name': modelName, 'model.version': modelVersion }), byStatus: [] };
      versions.set(modelVersion, attributes);
    }
    let withStatus = attributes.byStatus[code];
    if (!withStatus) {
      withStatus = Object.freeze({ ...attributes.version, 'rpc.grpc.status_code': status[code] ?? 'UNKNOWN' });
      attributes.byStatus[code] = withStatus;
    }
    this.modelCalls.add(1, withStatus);
    this.modelCallDuration.record(seconds, attributes.version);
  }

  /** One shadow call's comparison: rows with the same label, rows with another, and the sum of the score differences. */
  recordShadowRows(modelName: string, servedVersion: string, shadowVersion: string, agree: number, disagree: number, scoreDifference: number): void {
    const attributes = this.shadowPair(modelName, servedVersion, shadowVersion);
    // Both series are written, 0 included, so that a ratio over them exists from the first comparison on.
    this.shadowRows.add(agree, attributes.agree);
    this.shadowRows.add(disagree, attributes.disagree);
    this.shadowScoreDifference.add(scoreDifference, attributes.pair);
  }

  recordShadowShed(modelName: string, servedVersion: string, shadowVersion: string): void {
    this.shadowShed.add(1, this.shadowPair(modelName, servedVersion, shadowVersion).pair);
  }

  /** `code`: the gRPC status code's name (FAILED_PRECONDITION), as the model service's metrics write it. */
  recordShadowFailed(modelName: string, servedVersion: string, shadowVersion: string, code: string): void {
    const pair = this.shadowPair(modelName, servedVersion, shadowVersion);
    let attributes = pair.byStatus.get(code);
    if (!attributes) {
      attributes = Object.freeze({ ...pair.pair, 'rpc.grpc.status_code': code });
      pair.byStatus.set(code, attributes);
    }
    this.shadowFailed.add(1, attributes);
  }

  private shadowPair(modelName: string, servedVersion: string, shadowVersion: string): ShadowPairAttributes {
    const key = `${modelName}\u0000${servedVersion}\u0000${shadowVersion}`;
    let attributes = this.shadowPairs.get(key);
    if (!attributes) {
      const pair = Object.freeze({ 'model.name': modelName, 'served.version': servedVersion, 'shadow.version': shadowVersion });
      attributes = {
        pair,
        agree: Object.freeze({ ...pair, agreement: 'agree' satisfies ShadowAgreement }),
        disagree: Object.freeze({ ...pair, agreement: 'disagree' satisfies ShadowAgreement }),
        byStatus: new Map(),
      };
      this.shadowPairs.set(key, attributes);
    }
    return attributes;
  }

  /** Reports `weights()`, the split in force, as the version weight gauge from now on. */
  trackVersionSplit(weights: () => readonly VersionWeight[]): void {
    this.versionWeights = weights;
  }

  recordSplitRefused(reason: SplitRefusal): void {
    this.splitRefused.add(1, cachedAttributes(this.refusalAttributes, 'reason', reason));
  }

  /** One call's cost beyond the downstream's own work: client-observed minus server-reported, in milliseconds. */
  recordHopOverhead(hop: string, overheadMs: number): void {
    this.hopOverhead.record(overheadMs / 1000, cachedAttributes(this.hopAttributes, 'hop', hop));
  }

  /** Reports `state()` as the downstream's breaker gauge from now on. */
  trackBreaker(downstream: string, state: () => CircuitState): void {
    this.breakers.set(downstream, { attributes: this.attributesOf(downstream), state });
  }

  recordRetry(downstream: string): void {
    this.retries.add(1, this.attributesOf(downstream));
  }

  recordShed(downstream: string): void {
    this.shed.add(1, this.attributesOf(downstream));
  }

  addInFlight(delta: 1 | -1): void {
    this.inFlight.add(delta);
  }

  private attributesOf(downstream: string): Attributes {
    return cachedAttributes(this.attributes, 'downstream', downstream);
  }
}

/** `{ [name]: value }`, made once per value so that recording allocates nothing. */
function cachedAttributes(cache: Map<string, Attributes>, name: string, value: string): Attributes {
  let attributes = cache.get(value);
  if (!attributes) {
    attributes = Object.freeze({ [name]: value });
    cache.set(value, attributes);
  }
  return attributes;
}
