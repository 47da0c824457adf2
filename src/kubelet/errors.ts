import { OperationError, describeError } from '../core/errors.js';
import type { KubeletConfig } from './types.js';

/** Why a kubelet call failed, for callers that count or route failures (metrics, the backup's summary). */
export type KubeletFailure =
  | 'unauthorized'
  | 'forbidden'
  | 'not-found'
  | 'no-checkpoint-api'
  | 'runtime-cannot-checkpoint'
  | 'not-running'
  | 'timeout'
  | 'runtime-failed'
  | 'unreachable'
  | 'tls'
  | 'bad-reply'
  | 'http';

/** The kubelet could not be reached, refused us, or failed: exit code 1. Never holds a credential. */
export class KubeletError extends OperationError {
  override name = 'KubeletError';
  constructor(
    message: string,
    readonly failure: KubeletFailure,
    readonly status?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Which request failed, for messages and for the meaning of a status. */
export type KubeletCall = { kind: 'pods' } | { kind: 'checkpoint'; namespace: string; pod: string; container: string; timeoutSeconds: number };

const what = (call: KubeletCall) => (call.kind === 'pods' ? 'listing the pods' : `checkpoint of ${call.namespace}/${call.pod}/${call.container}`);

/** The first line of a reply body, without control characters, at most 300 characters: safe to quote. */
export function quoteBody(body: Buffer | string): string {
  const text = (typeof body === 'string' ? body : body.toString('utf8')).split('\n').find((l) => l.trim() !== '') ?? '';
  const clean = text.replace(/[\u0000-\u001f\u007f]/g, ' ').trim();
  return clean.length > 300 ? `${clean.slice(0, 300)}...` : clean;
}

/** The credential we presented, in the variables' names. */
function credentials(cfg: Pick<KubeletConfig, 'clientCertFile' | 'tokenFile'>): string {
  if (cfg.clientCertFile !== undefined && cfg.tokenFile !== undefined) return 'RS_KUBELET_CLIENT_CERT / RS_KUBELET_TOKEN_FILE';
  if (cfg.clientCertFile !== undefined) return 'RS_KUBELET_CLIENT_CERT';
  if (cfg.tokenFile !== undefined) return 'RS_KUBELET_TOKEN_FILE';
  return 'none';
}

/**
 * Turns a kubelet reply that is not a success into a KubeletError whose message says what went wrong in an operator's
 * words. The kubelet's answers (pkg/kubelet/server): 401 `Unauthorized` from its authenticator, 403
 * `Forbidden (user=..., verb=..., resource=nodes, subresource(s)=[checkpoint])` from its authorizer, 404 `pod does
 * not exist` / `container <c> does not exist` from the checkpoint handler or `404 page not found` when the route is
 * absent (ContainerCheckpoint feature gate off), and 500 `checkpointing of ns/pod/c failed (<runtime error>)`.
 */
export function httpFailure(status: number, body: Buffer, call: KubeletCall, cfg: Pick<KubeletConfig, 'url' | 'clientCertFile' | 'tokenFile'>): KubeletError {
  const said = quoteBody(body);
  const at = `${what(call)} failed at ${cfg.url}`;
  const target = call.kind === 'checkpoint' ? `${call.namespace}/${call.pod}/${call.container}` : '';
  const fail = (why: string, failure: KubeletFailure) => new KubeletError(`${at}: ${why}`, failure, status);
  if (status === 401) {
    const cred = credentials(cfg);
    return fail(
      cred === 'none'
        ? 'the kubelet requires credentials: set RS_KUBELET_CLIENT_CERT and RS_KUBELET_CLIENT_KEY (a certificate signed by its client CA), or RS_KUBELET_TOKEN_FILE'
        : `the kubelet refused our credentials (${cred}): a certificate not signed by the kubelet's client CA (--client-ca-file), expired, or a token it does not accept`,
      'unauthorized',
    );
  }
  if (status === 403) {
    const m = /user=([^,]*), verb=([^,]*), resource=([^,]*), subresource(?:\(s\))?=\[?([^\])]*)/.exec(said);
    const user = m ? ` "${m[1]}"` : '';
    const need = call.kind === 'checkpoint' ? 'nodes/checkpoint (verb create)' : 'nodes/pods or nodes/proxy (verb get)';
    return fail(`the kubelet authenticated us as${user || ' our user'}, who is not allowed ${need}: grant it in a ClusterRole bound to that user (kubelet said: ${said})`, 'forbidden');
  }
  if (status === 404 && call.kind === 'checkpoint') {
    if (/^404 page not found/i.test(said)) {
      return fail('the kubelet has no checkpoint API: its ContainerCheckpoint feature gate is off (on by default from Kubernetes 1.30) or it runs without enableDebuggingHandlers', 'no-checkpoint-api');
    }
    if (/^pod does not exist/i.test(said)) return fail(`no pod ${call.namespace}/${call.pod} on this node`, 'not-found');
    return fail(`no container ${target} on this node (kubelet said: ${said})`, 'not-found');
  }
  if (status === 500 && call.kind === 'checkpoint') {
    if (/checkpoint\/restore support not available/i.test(said)) {
      return fail(`the container runtime cannot checkpoint: CRI-O with CRIU is needed (set enable_criu_support = true in crio.conf and install criu; runtime said: ${said})`, 'runtime-cannot-checkpoint');
    }
    if (/unimplemented|not implemented|unknown method/i.test(said)) {
      return fail(`the container runtime cannot checkpoint: CRI-O with CRIU is needed (this runtime does not implement CheckpointContainer; runtime said: ${said})`, 'runtime-cannot-checkpoint');
    }
    if (/deadline ?exceeded|context deadline/i.test(said)) {
      return fail(`the runtime did not finish the checkpoint within ${call.timeoutSeconds}s (RS_CHECKPOINT_TIMEOUT; a container with more memory takes longer): ${said}`, 'timeout');
    }
    if (/container \S+ not found|not running|is not running/i.test(said)) return fail(`container ${target} is not running (kubelet said: ${said})`, 'not-running');
  }
  if (status === 500 && /^authorization error/i.test(said)) {
    return fail(`the kubelet could not ask the API server whether we may do this (its authorization webhook failed): ${said}`, 'http');
  }
  if (status === 500 && call.kind === 'checkpoint') return fail(`the kubelet or the runtime failed to checkpoint it: ${said}`, 'runtime-failed');
  return fail(`HTTP ${status}${said ? `: ${said}` : ''}`, 'http');
}

/**
 * Turns a transport failure (connection, TLS, our deadline) into a KubeletError, naming the certificate problem the
 * way etcd/errors.ts does for etcd. Node's TLS errors carry codes; those are matched first, then the message.
 */
export function transportFailure(err: unknown, call: KubeletCall, cfg: Pick<KubeletConfig, 'url' | 'caCertFile' | 'clientCertFile' | 'serverName'>, deadlineMs: number): KubeletError {
  if (err instanceof KubeletError) return err;
  const code = (err as NodeJS.ErrnoException)?.code ?? '';
  const raw = describeError(err);
  const text = `${code} ${raw}`.toLowerCase();
  const at = `${what(call)} failed at ${cfg.url}`;
  const fail = (why: string, failure: KubeletFailure) => new KubeletError(`${at}: ${why}`, failure, undefined, { cause: err });
  if (code === 'RS_DEADLINE') {
    return fail(
      call.kind === 'checkpoint'
        ? `the kubelet did not answer within ${deadlineMs / 1000}s (RS_CHECKPOINT_TIMEOUT plus a margin)`
        : `the kubelet did not answer within ${deadlineMs / 1000}s`,
      'timeout',
    );
  }
  if (/cert_has_expired|certificate has expired/.test(text)) return fail("the kubelet's serving certificate has expired", 'tls');
  if (/cert_not_yet_valid|not yet valid/.test(text)) return fail("the kubelet's serving certificate is not valid yet (check the clocks)", 'tls');
  if (/err_tls_cert_altname_invalid|altnames|hostname\/ip does not match/.test(text)) {
    return fail(
      `the kubelet's serving certificate does not name ${cfg.serverName ?? new URL(cfg.url).hostname} (${raw}); a kubelet's self-signed certificate names only the node's host name: set RS_KUBELET_SERVER_NAME to it`,
      'tls',
    );
  }
  if (/self_signed|self.signed|unable_to_verify_leaf_signature|unable_to_get_issuer|unable to verify|unable to get local issuer|cert_untrusted/.test(text)) {
    return fail(
      `${cfg.caCertFile === undefined ? "the kubelet's serving certificate is not signed by a CA this system trusts: set RS_KUBELET_CA_CERT" : "the kubelet's serving certificate is not signed by RS_KUBELET_CA_CERT"}` +
        ' (unless serverTLSBootstrap is on, a kubelet serves a self-signed certificate, /var/lib/kubelet/pki/kubelet.crt on kubeadm nodes, which can serve as the CA)',
      'tls',
    );
  }
  if (/alert (bad certificate|certificate required|unknown ca|certificate unknown|certificate expired|handshake failure)/.test(text)) {
    return fail(
      cfg.clientCertFile === undefined
        ? 'the endpoint requires a client certificate during the TLS handshake: set RS_KUBELET_CLIENT_CERT and RS_KUBELET_CLIENT_KEY'
        : 'the endpoint rejected the client certificate (RS_KUBELET_CLIENT_CERT) during the TLS handshake',
      'tls',
    );
  }
  if (/wrong.version.number|packet length too long|eproto|http request/.test(text)) {
    return fail('the endpoint did not complete a TLS handshake: it may serve plain http (the kubelet serves https on port 10250)', 'tls');
  }
  if (code === 'ECONNREFUSED') return fail('nothing listens there (RS_KUBELET_URL should be the node\'s kubelet, port 10250)', 'unreachable');
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return fail('the host of RS_KUBELET_URL does not resolve', 'unreachable');
  if (/econnreset|socket hang up|epipe|etimedout|ehostunreach|enetunreach/.test(text)) return fail(`the kubelet is unreachable or went away (${raw})`, 'unreachable');
  return fail(raw, 'unreachable');
}
