import type { CheckpointTarget } from '../core/checkpoint-targets.js';
import type { StrategySpec } from '../core/strategy.js';
import type { RetentionRules } from '../core/retention.js';

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';
export type ApiVersion = 'auto' | 'v2' | 'v3';
export type Compression = 'zstd' | 'gzip' | 'none';

/** How to reach etcd. */
export interface EtcdConfig {
  /** `RS_ETCD_ENDPOINTS` (or `RS_ETCD_ENDPOINT`): URLs, default `http://127.0.0.1:2379`. */
  endpoints: string[];
  /** `RS_ETCD_CA_CERT`: PEM file of the CA that signed etcd's server certificate. */
  caCertFile?: string;
  /** `RS_ETCD_CLIENT_CERT` / `RS_ETCD_CLIENT_KEY`: PEM files for mutual TLS; both or neither. */
  clientCertFile?: string;
  clientKeyFile?: string;
  /** `RS_ETCD_USERNAME` / `RS_ETCD_PASSWORD`: etcd auth; both or neither. */
  username?: string;
  password?: string;
  /** `RS_ETCD_API_VERSION`: `auto` (default), `v2` or `v3`. */
  apiVersion: ApiVersion;
  /** `RS_ETCD_TIMEOUT`: how long one etcd call may take, its retries included (streams have none), default `30s`. */
  timeoutMs: number;
  /** The etcdctl variables that gave a field in place of reshifter's (`{ caCertFile: 'ETCDCTL_CACERT' }`): messages name them. */
  readFrom?: Partial<Record<EtcdFileField | 'endpoints' | 'username' | 'password', string>>;
  /**
   * Not configured: the id of the cluster the one-cluster check found the endpoints to be of (with-etcd.ts), which
   * the members an operation reads from must be of too.
   */
  checkedCluster?: string;
  /**
   * Not configured: etcd's version as the one-cluster check's answers told it (with-etcd.ts), which a key dump records
   * rather than asking a member for its status once more.
   */
  checkedVersion?: string;
}

/** The fields of EtcdConfig that name TLS files. */
export type EtcdFileField = 'caCertFile' | 'clientCertFile' | 'clientKeyFile';

export type StoreConfig =
  | {
      kind: 's3';
      /** `RS_S3_BUCKET` */
      bucket: string;
      /** `RS_S3_ENDPOINT`: for S3-compatible servers (MinIO, Ceph, s3rver). */
      endpoint?: string;
      /** `RS_S3_CA_CERT`: the CA (PEM) of the server's certificate, in place of the system's CAs. */
      caCertFile?: string;
      /** The AWS CLI's variable each field was read from, where reshifter's was unset (AWS_ENDPOINT_URL, AWS_CA_BUNDLE). */
      readFrom?: Partial<Record<'endpoint' | 'caCertFile', string>>;
      /** `RS_S3_REGION`, default `us-east-1`. */
      region: string;
      /** `RS_S3_PREFIX`: folder inside the bucket, without leading or trailing `/`. */
      prefix: string;
      /** `RS_S3_FORCE_PATH_STYLE`: default true when an endpoint is set. */
      forcePathStyle: boolean;
      /** `ACCESS_KEY_ID` / `SECRET_ACCESS_KEY`; otherwise the AWS SDK's default chain. */
      accessKeyId?: string;
      secretAccessKey?: string;
      /** `RS_S3_SSE`: server-side encryption, `AES256` or `aws:kms`. */
      sse?: 'AES256' | 'aws:kms';
      /** `RS_S3_SSE_KMS_KEY_ID` */
      sseKmsKeyId?: string;
      /**
       * `RS_S3_REQUEST_TIMEOUT`: deadline of one attempt of one S3 request (a part of at most 8 MiB), default `30s`;
       * an attempt past it is cut off and retried.
       */
      requestTimeoutMs: number;
      /**
       * `RS_S3_RETRY_WINDOW`: how long a failing S3 request is retried (exponential backoff with jitter) before the
       * operation fails, default `60s`: long enough for an S3 server to restart.
       */
      retryWindowMs: number;
    }
  | {
      kind: 'local';
      /** `RS_BACKUP_DIR`, default `./backups`. */
      dir: string;
    };

/** Which Kubernetes keys a dump or restore covers. */
export interface SelectionConfig {
  /** `RS_KUBE_PREFIXES`: empty means detect. `/` means every key. */
  prefixes: string[];
  includeNamespaces: string[];
  excludeNamespaces: string[];
  includeResources: string[];
  excludeResources: string[];
  /**
   * How the namespace and resource filters are named to whoever gave them, by field, where not by their variable: an
   * API request's own fields (`includeNamespaces`), which the caller set instead of RS_INCLUDE_NAMESPACES. Set (maybe
   * empty) for every API restore, whose errors point to the API's routes rather than to commands.
   */
  named?: Partial<Record<'includeNamespaces' | 'excludeNamespaces' | 'includeResources' | 'excludeResources', string>>;
}

export interface EncryptionConfig {
  /** `RS_ENCRYPTION_RECIPIENTS`: age X25519 public keys (`age1...`). */
  recipients: string[];
  /** `RS_ENCRYPTION_IDENTITY_FILE` / `RS_ENCRYPTION_IDENTITY`: age secret keys for reading encrypted backups. */
  identityFile?: string;
  identity?: string[];
  /** `RS_ENCRYPTION_PASSPHRASE`: age scrypt passphrase, for writing and reading. */
  passphrase?: string;
}

/** How a checkpoint backup (RS_BACKUP_STRATEGY=checkpoint) reaches the node's kubelet and its checkpoint folder. */
export interface CheckpointConfig {
  /** `RS_CHECKPOINT_TARGETS`: the containers, `namespace/pod/container` with `*` for every pod or container. */
  targets?: CheckpointTarget[];
  kubelet: {
    /** `RS_KUBELET_URL`, default `https://127.0.0.1:10250`. */
    url: string;
    /** `RS_KUBELET_CA_CERT`: CA of the kubelet's serving certificate. */
    caCertFile?: string;
    /** `RS_KUBELET_CLIENT_CERT` / `RS_KUBELET_CLIENT_KEY`: a client certificate the kubelet trusts; both or neither. */
    clientCertFile?: string;
    clientKeyFile?: string;
    /** `RS_KUBELET_TOKEN_FILE`: a bearer token allowed nodes/checkpoint, read at each request. */
    tokenFile?: string;
    /** `RS_KUBELET_SERVER_NAME`: the name the kubelet's certificate is checked against (default: the URL's host). */
    serverName?: string;
  };
  /** `RS_CHECKPOINT_TIMEOUT`, default `2m`: how long the runtime may take for one container, whole seconds. */
  timeoutSeconds: number;
  /** `RS_CHECKPOINT_DIR`, default `/var/lib/kubelet/checkpoints`: where this process sees the kubelet's archives. */
  dir: string;
  /** `RS_CHECKPOINT_KEEP_LOCAL`, default false: keep the node's archive once it is stored. */
  keepLocal: boolean;
}

/** Everything reshifter can be told, read once from the environment by `loadConfig`. */
export interface Config {
  etcd: EtcdConfig;
  /** `RS_BACKUP_STRATEGY`; undefined = the default for the API version (snapshot on v3, raw on v2). */
  strategy?: StrategySpec;
  /** `RS_CLUSTER_NAME`, default `default`: the folder of this cluster's backups in the store. */
  cluster: string;
  store: StoreConfig;
  /** `RS_COMPRESSION`, default `zstd` (gzip before 0.2: those backups stay readable). */
  compression: Compression;
  /** `RS_COMPRESSION_LEVEL`: zstd 1-19 (default 1), gzip 1-9 (default 3). */
  compressionLevel: number;
  encryption: EncryptionConfig;
  /** `RS_SCHEDULE`: cron expression for `run`. */
  schedule?: string;
  retention: RetentionRules;
  /** Continuous backups of `run`: `RS_DELTA_INTERVAL` (0: off) and `RS_DELTA_MAX_BYTES` (default 64 MiB). */
  delta: { intervalMs: number; maxBytes: number };
  selection: SelectionConfig;
  checkpoint: CheckpointConfig;
  /** `RS_HTTP_PORT`, default 8080; 0 disables the HTTP server of `run`. */
  httpPort: number;
  /** `RS_HTTP_ADDRESS`, default `127.0.0.1` (the image sets `0.0.0.0`): the address `run` serves HTTP on. */
  httpAddress: string;
  /** `RS_HTTP_ALLOWED_HOSTS`: more names (Host header) the HTTP server answers to, lower case. */
  httpAllowedHosts: string[];
  /** `RS_API_READ_OPEN`: reads of what the cluster holds answer without a token beyond loopback. */
  apiReadOpen: boolean;
  /** `RS_PUSHGATEWAY_URL`: where one-off backups push their metrics. */
  pushgatewayUrl?: string;
  /** `RS_API_TOKEN`: bearer token for changing API calls. */
  apiToken?: string;
  /** `RS_TMP_DIR`: the work area readers stage backups in; undefined: the system's temporary folder (TMPDIR). */
  workDir?: string;
  /** `LOG_LEVEL`, default `info`. */
  logLevel: LogLevel;
}
