import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EnvReader } from './env-config';
import { readServerConfig } from './server-config';

describe('TLS configuration', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'imesh-tls-'));
    for (const name of ['cert.pem', 'key.pem', 'ca.pem']) writeFileSync(join(dir, name), `-----${name}-----\n`);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('is off by default and reads cert, key and CA once at start', () => {
    assert.equal(readServerConfig(new EnvReader({}), 'model').tls, undefined);
    const env = new EnvReader({ IMESH_TLS_CERT: join(dir, 'cert.pem'), IMESH_TLS_KEY: join(dir, 'key.pem'), IMESH_TLS_CA: join(dir, 'ca.pem') });
    const { tls } = readServerConfig(env, 'model');
    env.done();
    assert.equal(tls?.certChain.toString(), '-----cert.pem-----\n');
    assert.equal(tls?.ca?.toString(), '-----ca.pem-----\n');
  });

  it('names unreadable files, half a pair, and a CA without a certificate', () => {
    const missing = new EnvReader({ IMESH_TLS_CERT: join(dir, 'nope.pem'), IMESH_TLS_KEY: join(dir, 'key.pem') });
    readServerConfig(missing, 'model');
    assert.throws(() => missing.done(), /IMESH_TLS_CERT=".*nope.pem": cannot read it \(ENOENT\)/);
    const half = new EnvReader({ IMESH_TLS_CERT: join(dir, 'cert.pem') });
    readServerConfig(half, 'model');
    assert.throws(() => half.done(), /IMESH_TLS_CERT and IMESH_TLS_KEY go together: set both or neither \(IMESH_TLS_KEY is missing\)/);
    const caOnly = new EnvReader({ IMESH_TLS_CA: join(dir, 'ca.pem') });
    readServerConfig(caOnly, 'model');
    assert.throws(() => caOnly.done(), /IMESH_TLS_CA is set without IMESH_TLS_CERT and IMESH_TLS_KEY/);
  });
});
