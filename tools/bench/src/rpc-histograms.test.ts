import { strict as assert } from 'node:assert';
import { bucketQuantileMs, histogramDelta, meanMs, parseRpcHistograms } from './rpc-histograms';

const exposition = (encodeBuckets: readonly number[], count: number, sum: number) =>
  [
    '# HELP rpc_client_duration Duration of outbound gRPC calls, by service, method and status code',
    '# TYPE rpc_client_duration histogram',
    ...[0.5, 1, 2.5].map(
      (le, i) => `rpc_client_duration_bucket{rpc_system="grpc",rpc_service="inference_mesh.tokenizer.v1.TokenizerService",rpc_method="Encode",rpc_grpc_status_code="0",le="${le}"} ${encodeBuckets[i]}`,
    ),
    `rpc_client_duration_bucket{rpc_system="grpc",rpc_service="inference_mesh.tokenizer.v1.TokenizerService",rpc_method="Encode",rpc_grpc_status_code="0",le="+Inf"} ${count}`,
    `rpc_client_duration_sum{rpc_system="grpc",rpc_service="inference_mesh.tokenizer.v1.TokenizerService",rpc_method="Encode",rpc_grpc_status_code="0"} ${sum}`,
    `rpc_client_duration_count{rpc_system="grpc",rpc_service="inference_mesh.tokenizer.v1.TokenizerService",rpc_method="Encode",rpc_grpc_status_code="0"} ${count}`,
    // Another status code of the same method counts as the same method.
    'rpc_client_duration_count{rpc_system="grpc",rpc_method="Encode",rpc_grpc_status_code="14"} 1',
    'rpc_client_duration_sum{rpc_system="grpc",rpc_method="Encode",rpc_grpc_status_code="14"} 5',
    'rpc_server_duration_count{rpc_system="grpc",rpc_method="Classify",rpc_grpc_status_code="0"} 7',
    'imesh_gateway_requests_total{code="0"} 9',
  ].join('\n');

describe('the mesh\'s rpc duration histograms', () => {
  it('reads calls, sum and buckets per method and side, every status code together', () => {
    const parsed = parseRpcHistograms(exposition([1, 2, 3], 4, 6));
    assert.deepEqual(parsed.client['Encode'], { count: 5, sumMs: 11, buckets: [[0.5, 1], [1, 2], [2.5, 3], [Infinity, 4]] });
    assert.equal(parsed.server['Classify']?.count, 7);
    assert.deepEqual(Object.keys(parsed.client), ['Encode']);
  });

  it('subtracts the scrape before a window from the one after, and reads the mean and an interpolated p50', () => {
    const window = histogramDelta(parseRpcHistograms(exposition([1, 2, 3], 4, 6)), parseRpcHistograms(exposition([1, 12, 13], 14, 16)))
      .client['Encode']!;
    assert.deepEqual(window, { count: 10, sumMs: 10, buckets: [[0.5, 0], [1, 10], [2.5, 10], [Infinity, 10]] });
    assert.equal(meanMs(window), 1);
    // All ten calls fell in (0.5, 1]: the median is half way through it.
    assert.equal(bucketQuantileMs(window, 0.5), 0.75);
    assert.ok(Number.isNaN(bucketQuantileMs(undefined, 0.5)) && Number.isNaN(meanMs({ count: 0, sumMs: 0, buckets: [] })));
  });
});
