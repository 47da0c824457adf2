import { GRPCUnavailableError } from 'etcd3';
import { describe, expect, it } from 'vitest';
import { EtcdError } from '../../../src/core/errors.js';
import { EtcdCredentialsError, EtcdUnansweredError, TlsResetError, explainClosedConnection, explainTlsReset, grpcCause, NO_CONNECTION, toEtcdError } from '../../../src/etcd/errors.js';
import type { TlsProbeResult } from '../../../src/etcd/tls-probe.js';

const ENDPOINTS = ['https://10.0.0.5:2379'];
const cfg = (extra: Record<string, string> = {}) => ({ endpoints: ENDPOINTS, ...extra });

/** The grpc-js / etcd messages seen against a real etcd 3.4 (see test/integration/etcd-tls and etcd-auth). */
describe('toEtcdError', () => {
  it.each([
    ['3 INVALID_ARGUMENT: etcdserver: authentication failed, invalid user ID or password', cfg({ username: 'root' }), /refused the credentials/],
    ['3 INVALID_ARGUMENT: etcdserver: user name is empty', cfg(), /has authentication enabled: set RS_ETCD_USERNAME and RS_ETCD_PASSWORD/],
    ['3 INVALID_ARGUMENT: etcdserver: user name is empty', ENDPOINTS, /requires authentication and got no user name/],
    ['7 PERMISSION_DENIED: etcdserver: permission denied', cfg(), /lacks permission .*snapshots need the root role/],
    ['14 UNAVAILABLE: No connection established. Last error: Error: certificate has expired. Resolution note: ', cfg(), /server certificate has expired/],
    ['14 UNAVAILABLE: No connection established. Last error: Error: unable to verify the first certificate', cfg({ caCertFile: '/ca.pem' }), /server certificate is not signed by RS_ETCD_CA_CERT=\/ca\.pem$/],
    ['14 UNAVAILABLE: No connection established. Last error: Error: self-signed certificate in certificate chain', cfg(), /not signed by a CA this system trusts: set RS_ETCD_CA_CERT/],
    ["14 UNAVAILABLE: Hostname/IP does not match certificate's altnames: IP: 10.0.0.5 is not in the cert's list", cfg(), /does not name this endpoint's host/],
    ['14 UNAVAILABLE: No connection established. Last error: 80:error:0A000412:SSL routines:ssl3_read_bytes:sslv3 alert bad certificate:SSL alert number 42', cfg(), /requires a client certificate \(mutual TLS\): set RS_ETCD_CLIENT_CERT/],
    ['14 UNAVAILABLE: No connection established. Last error: 80:error:0A000412:SSL routines:ssl3_read_bytes:sslv3 alert bad certificate:SSL alert number 42', cfg({ clientCertFile: '/c.pem' }), /etcd rejected the client certificate RS_ETCD_CLIENT_CERT=\/c\.pem: /],
    ['14 UNAVAILABLE: ... ssl3_read_bytes:tlsv1 alert unknown ca:SSL alert number 48', cfg({ clientCertFile: '/c.pem' }), /etcd rejected the client certificate RS_ETCD_CLIENT_CERT=\/c\.pem: /],
    ['14 UNAVAILABLE: ... wrong version number', cfg(), /did not complete a TLS handshake: it may serve plain http/],
    ['8 RESOURCE_EXHAUSTED: Received message larger than max (8274701 vs 4194304)', cfg(), /exceeded etcd or gRPC size limits/],
    ['14 UNAVAILABLE: No connection established. Last error: connect ECONNREFUSED 10.0.0.5:2379', cfg(), /etcd is unreachable or went away/],
    ['14 UNAVAILABLE: Connection dropped', cfg(), /etcd is unreachable or went away/],
    ['4 DEADLINE_EXCEEDED: Deadline exceeded after 3.004s,name resolution: 0.001s', { ...cfg(), timeoutMs: 3000 }, /etcd did not answer within 3 s \(RS_ETCD_TIMEOUT, which bounds each call, retries included/],
    ['8 RESOURCE_EXHAUSTED: etcdserver: too many requests', cfg(), /etcd is overloaded and refused the request/],
    ['8 RESOURCE_EXHAUSTED: etcdserver: mvcc: database space exceeded', cfg(), /etcd's database is full .*then clear etcd's NOSPACE alarm with "etcdctl alarm disarm", or every write stays refused/],
  ])('%s', (message, target, expected) => {
    const e = toEtcdError(new Error(message), 'reading etcd status', target);
    expect(e).toBeInstanceOf(EtcdError);
    expect(e.message).toMatch(/^reading etcd status failed at https:\/\/10\.0\.0\.5:2379: /);
    expect(e.message).toMatch(expected);
  });

  it("names what a key restore needs when etcd denies one of its calls, not what a backup needs", () => {
    const denied = new Error('7 PERMISSION_DENIED: etcdserver: permission denied');
    for (const what of ['writing restored keys', 'reading the keys to restore', 'reading the revision of the target', 'granting a lease for restored keys']) {
      expect(toEtcdError(denied, what, cfg()).message).toMatch(/lacks permission for this \(a key restore needs read and write access to the keys it restores\)$/);
    }
    expect(toEtcdError(denied, 'opening the snapshot stream', cfg()).message).toMatch(/snapshots need the root role/);
  });

  it('tells an unanswered call (a write may have been applied) from a refused one', () => {
    expect(toEtcdError(new Error('14 UNAVAILABLE: Connection dropped'), 'writing', cfg())).toBeInstanceOf(EtcdUnansweredError);
    expect(toEtcdError(new Error('4 DEADLINE_EXCEEDED: Deadline exceeded'), 'writing', cfg())).toBeInstanceOf(EtcdUnansweredError);
    expect(toEtcdError(new Error('3 INVALID_ARGUMENT: etcdserver: request is too large'), 'writing', cfg())).not.toBeInstanceOf(EtcdUnansweredError);
    expect(toEtcdError(new Error('7 PERMISSION_DENIED: etcdserver: permission denied'), 'writing', cfg())).not.toBeInstanceOf(EtcdUnansweredError);
  });

  it('tells refused, missing or insufficient credentials apart, with the cause alone for another message', () => {
    const refused = toEtcdError(new Error('3 INVALID_ARGUMENT: etcdserver: authentication failed, invalid user ID or password'), 'x', cfg({ username: 'root' }));
    expect(refused).toBeInstanceOf(EtcdCredentialsError);
    expect((refused as EtcdCredentialsError).reason).toBe('etcd refused the credentials (check RS_ETCD_USERNAME and RS_ETCD_PASSWORD)');
    expect(toEtcdError(new Error('3 INVALID_ARGUMENT: etcdserver: user name is empty'), 'x', cfg())).toBeInstanceOf(EtcdCredentialsError);
    expect(toEtcdError(new Error('7 PERMISSION_DENIED: etcdserver: permission denied'), 'x', cfg())).toBeInstanceOf(EtcdCredentialsError);
    expect(toEtcdError(new Error('14 UNAVAILABLE: Connection dropped'), 'x', cfg())).not.toBeInstanceOf(EtcdCredentialsError);
  });

  describe('a reset during an https handshake', () => {
    const reset = () => toEtcdError(new Error('14 UNAVAILABLE: No connection established. Last error: Error: read ECONNRESET. Resolution note: '), 'reading etcd status', cfg());
    const explain = (found: TlsProbeResult | undefined, config = cfg()) =>
      explainTlsReset(reset() as TlsResetError, config, {}, async () => found);

    it('is kept apart for the endpoint to be asked, as is a socket closed before the handshake', () => {
      expect(reset()).toBeInstanceOf(TlsResetError);
      const closed = new Error('14 UNAVAILABLE: No connection established. Last error: Error: Client network socket disconnected before secure TLS connection was established');
      expect(toEtcdError(closed, 'reading etcd status', cfg())).toBeInstanceOf(TlsResetError);
      expect(reset().message).toMatch(/^reading etcd status failed at https:\/\/10\.0\.0\.5:2379: the connection was dropped during the TLS handshake \(.*ECONNRESET/);
    });

    it('is a plain-http endpoint when the endpoint answers plain HTTP', async () => {
      expect((await explain({ kind: 'plain-http' })).message).toMatch(/did not complete a TLS handshake: it serves plain http \(use an http:\/\/ endpoint\)/);
    });

    it('is the refusal our own handshake met, in the same words', async () => {
      const alert = { kind: 'handshake-error', text: 'ssl3_read_bytes:tlsv13 alert certificate required:SSL alert number 116' } as const;
      expect((await explain(alert)).message).toMatch(/requires a client certificate \(mutual TLS\): set RS_ETCD_CLIENT_CERT/);
      expect((await explain(alert, cfg({ clientCertFile: '/c.pem' }))).message).toMatch(/etcd rejected the client certificate/);
    });

    it('stays the reset when the probe finds nothing', async () => {
      const e = await explain(undefined);
      expect(e).toBeInstanceOf(TlsResetError);
      expect(e.message).toMatch(/connection was dropped during the TLS handshake/);
    });
  });

  it('calls a reset on a plain http endpoint unreachable, not a TLS failure', () => {
    const e = toEtcdError(new Error('14 UNAVAILABLE: No connection established. Last error: Error: read ECONNRESET'), 'reading etcd status', ['http://10.0.0.5:2379']);
    expect(e.message).toMatch(/etcd is unreachable or went away/);
  });

  it('ends with the cause, without grpc-js wording around it (status code, "Last error", an empty "Resolution note")', () => {
    const raw = '14 UNAVAILABLE: No connection established. Last error: Error: connect ECONNREFUSED 127.0.0.1:1. Resolution note: ';
    const e = toEtcdError(new Error(raw), 'reading etcd status', ['http://127.0.0.1:1']);
    expect(e.message).toBe('reading etcd status failed at http://127.0.0.1:1: etcd is unreachable or went away: connect ECONNREFUSED 127.0.0.1:1');
    expect(grpcCause(raw)).toBe('connect ECONNREFUSED 127.0.0.1:1');
    // A note that says something (a DNS failure's) stays.
    expect(grpcCause('14 UNAVAILABLE: Name resolution failed. Resolution note: getaddrinfo ENOTFOUND etcd.example')).toBe(
      'Name resolution failed; getaddrinfo ENOTFOUND etcd.example',
    );
    // A channel that joined grpc-js's shared connection while it waits to connect again (fresh-clone CI: the API's
    // stats of a stopped etcd, after its explore) has no error to give: the operator read "went away: null".
    const joined = toEtcdError(new Error('14 UNAVAILABLE: No connection established. Last error: null'), 'reading etcd', ['http://127.0.0.1:1']);
    expect(joined.message).toBe(`reading etcd failed at http://127.0.0.1:1: etcd is unreachable or went away: ${NO_CONNECTION}`);
  });

  describe('an http:// endpoint that closed the connection before HTTP/2 began', () => {
    const closed = new GRPCUnavailableError('14 UNAVAILABLE: No connection established. Last error: Failed to connect (2026-12-05T10:31:22.740Z)');
    const endpoints = ['http://10.0.0.5:2379', 'http://10.0.0.6:2379'];

    it('is asked whether it speaks TLS, and then said to, with what to set', async () => {
      const asked: string[] = [];
      const found = await explainClosedConnection(closed, endpoints, async (endpoint) => {
        asked.push(endpoint);
        return endpoint === 'http://10.0.0.6:2379' ? { clientCertificateRequired: true } : undefined;
      });
      expect(asked).toEqual(endpoints);
      expect(toEtcdError(found, 'reading etcd status', endpoints).message).toBe(
        "reading etcd status failed at http://10.0.0.5:2379,http://10.0.0.6:2379: http://10.0.0.6:2379 speaks TLS, not plain http: use https://10.0.0.6:2379 and set RS_ETCD_CA_CERT to etcd's CA, and RS_ETCD_CLIENT_CERT and RS_ETCD_CLIENT_KEY (it asks for a client certificate)",
      );
    });

    it('is not probed for other failures (refused, dropped), nor when it does not speak TLS', async () => {
      const probe = async () => ({ clientCertificateRequired: false });
      expect(await explainClosedConnection(new GRPCUnavailableError('14 UNAVAILABLE: No connection established. Last error: connect ECONNREFUSED 10.0.0.5:2379'), endpoints, probe)).toBeUndefined();
      expect(await explainClosedConnection(new GRPCUnavailableError('14 UNAVAILABLE: Connection dropped'), endpoints, probe)).toBeUndefined();
      expect(await explainClosedConnection(closed, endpoints, async () => undefined)).toBeUndefined();
    });
  });

  it('passes an EtcdError through unchanged', () => {
    const e = new EtcdError('already ours');
    expect(toEtcdError(e, 'x', ENDPOINTS)).toBe(e);
  });
});
