// Builders shared by this package's tests; not part of the service.
import { strict as assert } from 'node:assert';
import type { inference } from '@inference-mesh/protos';
import { isServiceError } from '@inference-mesh/service-kit';
import { MeterProvider, MetricReader, type DataPoint } from '@opentelemetry/sdk-metrics';
import { ModelMetrics } from './model-metrics';

type InferRequest = inference.ModelInferRequest__Output;
type InferInput = InferRequest['inputs'][number];
type TensorContents = inference.InferTensorContents__Output;

/** A decoded ModelInferRequest as proto-loader hands it over (defaults on). */
export function inferRequest(fields: Partial<InferRequest>): InferRequest {
  return {
    modelName: 'toy',
    modelVersion: '',
    id: '',
    parameters: {},
    inputs: [],
    outputs: [],
    rawInputContents: [],
    ...fields,
  };
}

export function inferInput(name: string, datatype: string, shape: number[], contents?: Partial<TensorContents>): InferInput {
  return { name, datatype, shape, parameters: {}, contents: contents ? tensorContents(contents) : null };
}

export function tensorContents(fields: Partial<TensorContents>): TensorContents {
  return {
    boolContents: [],
    intContents: [],
    int64Contents: [],
    uintContents: [],
    uint64Contents: [],
    fp32Contents: [],
    fp64Contents: [],
    bytesContents: [],
    ...fields,
  };
}

/** Little-endian INT64 bytes; `offset` extra leading bytes make the returned slice start at that byte offset. */
export function int64Bytes(values: readonly number[], offset = 0): Buffer {
  const buffer = Buffer.alloc(offset + values.length * 8);
  values.forEach((v, i) => buffer.writeBigInt64LE(BigInt(v), offset + i * 8));
  return buffer.subarray(offset);
}

/** Asserts that `action` throws a ServiceError with `code` whose message matches every pattern. */
export function assertServiceError(action: () => unknown, code: number, ...patterns: RegExp[]): void {
  let thrown: unknown;
  try {
    action();
  } catch (error) {
    thrown = error;
  }
  assert.ok(isServiceError(thrown), `expected a ServiceError, got ${String(thrown)}`);
  assert.equal(thrown.code, code, `status of: ${thrown.message}`);
  for (const pattern of patterns) assert.match(thrown.message, pattern);
}

export async function assertRejectsWithServiceError(action: () => Promise<unknown>, code: number, ...patterns: RegExp[]): Promise<void> {
  let thrown: unknown;
  try {
    await action();
  } catch (error) {
    thrown = error;
  }
  assert.ok(isServiceError(thrown), `expected a ServiceError, got ${String(thrown)}`);
  assert.equal(thrown.code, code, `status of: ${thrown.message}`);
  for (const pattern of patterns) assert.match(thrown.message, pattern);
}

class CollectingReader extends MetricReader {
  protected override async onShutdown(): Promise<void> {}
  protected override async onForceFlush(): Promise<void> {}
}

/** ModelMetrics on a meter of their own, and what they recorded so far, by metric name. */
export function collectedModelMetrics(): {
  metrics: ModelMetrics;
  collect: () => Promise<Map<string, DataPoint<unknown>[]>>;
  shutdown: () => Promise<void>;
} {
  const reader = new CollectingReader();
  const provider = new MeterProvider({ readers: [reader] });
  const collect = async () => {
    const { resourceMetrics } = await reader.collect();
    const byName = new Map<string, DataPoint<unknown>[]>();
    for (const scope of resourceMetrics.scopeMetrics) {
      for (const metric of scope.metrics) byName.set(metric.descriptor.name, metric.dataPoints as DataPoint<unknown>[]);
    }
    return byName;
  };
  return { metrics: new ModelMetrics(provider.getMeter('test')), collect, shutdown: () => provider.shutdown() };
}
