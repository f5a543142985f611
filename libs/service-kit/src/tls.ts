import { credentials, ServerCredentials, type ChannelCredentials } from '@grpc/grpc-js';
import { readFileSync } from 'node:fs';
import type { EnvReader } from './env-config';

/**
 * PEM material a service serves with, read once at start. With `ca` set the server requires every client to
 * present a certificate signed by it (mutual TLS); without it any client that trusts the server may connect.
 */
export interface TlsConfig {
  readonly certChain: Buffer;
  readonly privateKey: Buffer;
  readonly ca?: Buffer;
  /** The files, for logs and error messages. */
  readonly paths: { readonly cert: string; readonly key: string; readonly ca?: string };
}

/**
 * IMESH_TLS_CERT and IMESH_TLS_KEY (both or neither) turn TLS on; IMESH_TLS_CA adds client-certificate checks.
 * An unreadable file is a configuration error naming its variable, not a failure at the first connection.
 */
export function readTlsConfig(env: EnvReader): TlsConfig | undefined {
  const certPath = env.string('IMESH_TLS_CERT', '');
  const keyPath = env.string('IMESH_TLS_KEY', '');
  const caPath = env.string('IMESH_TLS_CA', '');
  if (!certPath && !keyPath) {
    if (caPath) env.fail('IMESH_TLS_CA is set without IMESH_TLS_CERT and IMESH_TLS_KEY: a server can only check client certificates over TLS');
    return undefined;
  }
  if (!certPath || !keyPath) {
    env.fail(`IMESH_TLS_CERT and IMESH_TLS_KEY go together: set both or neither (${certPath ? 'IMESH_TLS_KEY' : 'IMESH_TLS_CERT'} is missing)`);
    return undefined;
  }
  const certChain = readPem(env, 'IMESH_TLS_CERT', certPath);
  const privateKey = readPem(env, 'IMESH_TLS_KEY', keyPath);
  const ca = caPath ? readPem(env, 'IMESH_TLS_CA', caPath) : undefined;
  if (!certChain || !privateKey || (caPath && !ca)) return undefined;
  return { certChain, privateKey, ...(ca ? { ca } : {}), paths: { cert: certPath, key: keyPath, ...(caPath ? { ca: caPath } : {}) } };
}

function readPem(env: EnvReader, name: string, path: string): Buffer | undefined {
  try {
    return readFileSync(path);
  } catch (error) {
    env.fail(`${name}=${JSON.stringify(path)}: cannot read it (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
    return undefined;
  }
}

/** Plaintext without TLS; with a CA, clients without a certificate signed by it are refused in the handshake. */
export function serverCredentials(tls: TlsConfig | undefined): ServerCredentials {
  if (!tls) return ServerCredentials.createInsecure();
  return ServerCredentials.createSsl(tls.ca ?? null, [{ cert_chain: tls.certChain, private_key: tls.privateKey }], tls.ca !== undefined);
}

/** What a service presents when it calls another one over TLS: the CA it trusts and its own certificate. */
export interface ClientTls {
  /** Absent: the system's root certificates. */
  readonly ca?: Buffer;
  readonly certChain?: Buffer;
  readonly privateKey?: Buffer;
}

export function clientCredentials(tls: ClientTls | undefined): ChannelCredentials {
  if (!tls) return credentials.createInsecure();
  return credentials.createSsl(tls.ca ?? null, tls.privateKey ?? null, tls.certChain ?? null);
}
