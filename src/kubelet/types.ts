/**
 * How to reach a node's kubelet (its authenticated port, 10250). The shape the config loader will fill from
 * RS_KUBELET_* (see the fields); every field is already validated when it gets here.
 */
export interface KubeletConfig {
  /** `RS_KUBELET_URL`, default `https://127.0.0.1:10250`: the node's kubelet (https only). */
  url: string;
  /** `RS_KUBELET_CA_CERT`: PEM file of the CA that signed the kubelet's serving certificate. */
  caCertFile?: string;
  /** `RS_KUBELET_CLIENT_CERT` / `RS_KUBELET_CLIENT_KEY`: a client certificate the kubelet trusts (its --client-ca-file). */
  clientCertFile?: string;
  clientKeyFile?: string;
  /** `RS_KUBELET_TOKEN_FILE`: a bearer token allowed `nodes/checkpoint`; read at each request (projected tokens rotate). */
  tokenFile?: string;
  /**
   * The name the kubelet's serving certificate is checked against, when `url` holds the node's IP and the certificate
   * names the node only (a kubelet's self-signed certificate names its host name). Default: the URL's host.
   */
  serverName?: string;
  /** Deadline of a request that is not a checkpoint (`GET /pods`), default 30 s. */
  timeoutMs: number;
}

/** A container of a pod on the node, as `GET /pods` tells it. */
export interface KubeletContainer {
  name: string;
  /** From spec.initContainers (a running one is a sidecar). */
  init: boolean;
  /** Its state in the pod's status: `running`, `waiting`, `terminated`, or `unknown` when the status does not say. */
  state: 'running' | 'waiting' | 'terminated' | 'unknown';
}

/** A pod bound to the node. */
export interface KubeletPod {
  namespace: string;
  name: string;
  uid: string;
  nodeName?: string;
  phase?: string;
  containers: KubeletContainer[];
}

/** What the kubelet answered a checkpoint with. */
export interface CheckpointReply {
  /** The archive's file name, checked to be the one the kubelet names for this container (never a path). */
  fileName: string;
  /** The path as the kubelet reported it, on the node (for the manifest). */
  kubeletPath: string;
  /** The time in the file name (the kubelet's clock), when it parses. */
  checkpointedAt?: Date;
}
