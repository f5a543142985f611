import { strict as assert } from 'node:assert';
import { areaOf, serviceOf, summarize } from './profile-summary';

describe('profile summary', () => {
  it('groups frames by package, Node internals and this project\'s workspaces', () => {
    assert.equal(areaOf('file:///w/node_modules/@grpc/grpc-js/build/src/server.js', 'f'), '@grpc/grpc-js');
    assert.equal(areaOf('/w/node_modules/protobufjs/src/reader.js', 'f'), 'protobufjs');
    assert.equal(areaOf('node:internal/http2/core', 'f'), 'node:http2');
    assert.equal(areaOf('node:events', 'emit'), 'node:internal');
    assert.equal(areaOf('/w/services/gateway/dist/pipeline.js', 'f'), 'services/gateway');
    assert.equal(areaOf('', '(garbage collector)'), '(garbage collector)');
  });

  it('sums self time per area, leaving idle time out, and names the service', () => {
    const frame = (functionName: string, url: string) => ({ functionName, url, lineNumber: 0 });
    const lines = summarize({
      nodes: [
        { id: 1, callFrame: frame('(idle)', '') },
        { id: 2, callFrame: frame('write', 'node:internal/http2/core') },
        { id: 3, callFrame: frame('classify', '/w/services/gateway/dist/pipeline.js') },
        { id: 4, callFrame: frame('', '/w/services/gateway/dist/main.js') },
      ],
      samples: [1, 2, 3, 2],
      timeDeltas: [9000, 3000, 1000, 3000],
    });
    assert.equal(lines[0], 'busy 7 ms (idle excluded); by area:');
    assert.match(lines[1]!, /6 ms +85\.7% +node:http2/);
    assert.match(lines[2]!, /1 ms +14\.3% +services\/gateway/);
    assert.equal(serviceOf({ nodes: [{ id: 4, callFrame: frame('', '/w/services/gateway/dist/main.js') }], samples: [], timeDeltas: [] }), 'gateway');
  });
});
