import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** PEM file paths of one certificate authority and a leaf certificate it signed. */
export interface IssuedCertificate {
  readonly caCert: string;
  /** For localhost and 127.0.0.1, usable as a server and as a client certificate. */
  readonly cert: string;
  readonly key: string;
}

export interface TestCertificates {
  readonly dir: string;
  /** The mesh's CA and the certificate every service and the right client use. */
  readonly trusted: IssuedCertificate;
  /** Another CA with its own leaf: a client from outside the mesh. */
  readonly stranger: IssuedCertificate;
  remove(): void;
}

/** Generates two throwaway CAs with a leaf certificate each (EC P-256, valid one day) with `openssl`. */
export function generateCertificates(): TestCertificates {
  const dir = mkdtempSync(join(tmpdir(), 'imesh-certs-'));
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  const extensions = join(dir, 'leaf.ext');
  writeFileSync(extensions, 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\nbasicConstraints=CA:FALSE\n');
  const issue = (name: string): IssuedCertificate => {
    const path = (file: string) => join(dir, `${name}-${file}`);
    openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', `/CN=${name} test CA`,
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
      '-keyout', path('ca.key'), '-out', path('ca.crt'));
    openssl('req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', '/CN=localhost',
      '-keyout', path('leaf.key'), '-out', path('leaf.csr'));
    openssl('x509', '-req', '-in', path('leaf.csr'), '-CA', path('ca.crt'), '-CAkey', path('ca.key'), '-CAcreateserial', '-days', '1',
      '-extfile', extensions, '-out', path('leaf.crt'));
    return { caCert: path('ca.crt'), cert: path('leaf.crt'), key: path('leaf.key') };
  };
  return { dir, trusted: issue('mesh'), stranger: issue('stranger'), remove: () => rmSync(dir, { recursive: true, force: true }) };
}
