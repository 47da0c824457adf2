import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface CertPair {
  cert: string;
  key: string;
}

/** PEM files for TLS tests, made with openssl in a temporary folder. */
export interface TestCerts {
  dir: string;
  /** The CA that signs etcd's server certificate and the good client certificates. */
  ca: string;
  /** Server certificate for 127.0.0.1 / localhost (serverAuth and clientAuth: etcd's gateway dials itself). */
  server: CertPair;
  /** A client certificate signed by `ca`. */
  client: CertPair;
  /** A client certificate signed by `ca` that expired in 2020. */
  expiredClient: CertPair;
  /** A server certificate for 127.0.0.1 signed by `ca` that expired in 2020. */
  expiredServer: CertPair;
  /** Another CA, and a client certificate it signed. */
  otherCa: string;
  otherClient: CertPair;
  /** A server certificate for 127.0.0.1 signed by `otherCa` (a server moved to a new CA). */
  otherServer: CertPair;
  /** `client.cert` with `otherClient.key`: a certificate and a key that do not belong together. */
  mismatched: CertPair;
  remove(): Promise<void>;
}

const openssl = (dir: string, args: string[]) => run('openssl', args, { cwd: dir });

/** Generates a CA, server and client certificates (good, expired, foreign, mismatched) with openssl. */
export async function makeCerts(): Promise<TestCerts> {
  const dir = await mkdtemp(join(tmpdir(), 'rs-certs-'));
  const p = (name: string) => join(dir, name);
  const ecKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

  const makeCa = async (name: string) => {
    await openssl(dir, ['req', '-x509', ...ecKey, '-keyout', p(`${name}.key`), '-out', p(`${name}.crt`), '-days', '30', '-subj', `/CN=${name}`]);
    return p(`${name}.crt`);
  };
  await writeFile(p('server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n');
  await writeFile(p('client.ext'), 'extendedKeyUsage=clientAuth\n');

  /** A key and CSR, then a certificate signed by `ca` (valid for 30 days, or with explicit dates via `openssl ca`). */
  const sign = async (name: string, ca: string, ext: string, dates?: { start: string; end: string }): Promise<CertPair> => {
    await openssl(dir, ['req', ...ecKey, '-keyout', p(`${name}.key`), '-out', p(`${name}.csr`), '-subj', `/CN=${name}`]);
    if (dates === undefined) {
      await openssl(dir, ['x509', '-req', '-in', p(`${name}.csr`), '-CA', p(`${ca}.crt`), '-CAkey', p(`${ca}.key`), '-CAcreateserial', '-days', '30', '-extfile', p(ext), '-out', p(`${name}.crt`)]);
    } else {
      // `openssl x509` cannot back-date; `openssl ca` can, with a throwaway database.
      await writeFile(p(`${name}.db`), '');
      await writeFile(
        p(`${name}.cnf`),
        `[ca]\ndefault_ca=d\n[d]\ndatabase=${p(`${name}.db`)}\nnew_certs_dir=${dir}\nserial=${p(`${name}.serial`)}\ndefault_md=sha256\npolicy=any\nunique_subject=no\n[any]\ncommonName=supplied\n`,
      );
      await writeFile(p(`${name}.serial`), '1000\n');
      await openssl(dir, [
        'ca', '-batch', '-config', p(`${name}.cnf`), '-cert', p(`${ca}.crt`), '-keyfile', p(`${ca}.key`), '-in', p(`${name}.csr`),
        '-out', p(`${name}.crt`), '-startdate', dates.start, '-enddate', dates.end, '-extfile', p(ext), '-notext',
      ]);
    }
    return { cert: p(`${name}.crt`), key: p(`${name}.key`) };
  };

  const past = { start: '20200101000000Z', end: '20200102000000Z' };
  const ca = await makeCa('ca');
  const otherCa = await makeCa('other-ca');
  const server = await sign('server', 'ca', 'server.ext');
  const client = await sign('client', 'ca', 'client.ext');
  const expiredClient = await sign('expired-client', 'ca', 'client.ext', past);
  const expiredServer = await sign('expired-server', 'ca', 'server.ext', past);
  const otherClient = await sign('other-client', 'other-ca', 'client.ext');
  const otherServer = await sign('other-server', 'other-ca', 'server.ext');
  return {
    dir,
    ca,
    server,
    client,
    expiredClient,
    expiredServer,
    otherCa,
    otherClient,
    otherServer,
    mismatched: { cert: client.cert, key: otherClient.key },
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}

/** etcd flags serving `https` with `server`, requiring client certificates signed by `ca` when `clientCertAuth`. */
export function etcdTlsArgs(certs: TestCerts, opts: { clientCertAuth?: boolean; server?: CertPair } = {}): string[] {
  const server = opts.server ?? certs.server;
  return [
    '--cert-file', server.cert,
    '--key-file', server.key,
    ...(opts.clientCertAuth ? ['--client-cert-auth', '--trusted-ca-file', certs.ca] : []),
  ];
}
