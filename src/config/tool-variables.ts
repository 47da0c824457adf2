/**
 * Other tools' variables, read when reshifter's are not set. etcdctl's for the etcd connection: a control-plane shell
 * that exports ETCDCTL_ENDPOINTS, ETCDCTL_CACERT, ETCDCTL_CERT and ETCDCTL_KEY (as kubeadm and k3s guides have
 * operators do) reaches the same etcd with reshifter as with etcdctl, instead of the default http://127.0.0.1:2379.
 * The AWS CLI's endpoint and region for the S3 store: `AWS_ENDPOINT_URL=http://minio:9000` reaches MinIO as with
 * `aws s3 ls` (path-style, as RS_S3_ENDPOINT would; the SDK alone would address `bucket.minio`), AWS_CA_BUNDLE trusts
 * its private CA as the AWS CLI does (the JavaScript SDK reads no such variable), and EKS sets
 * AWS_REGION in every pod with IRSA or Pod Identity, so a bucket outside us-east-1 is reached without RS_S3_REGION.
 * One variable at a time, as those tools read them: an RS_ variable (or its older name) always wins.
 */
export interface ToolVariable {
  name: string;
  /** Whose variable it is, as messages and the README say it. */
  tool: "etcdctl's" | "the AWS CLI's";
  /** The part of the value that counts (ETCDCTL_USER is `name` or `name:password`); undefined: not set here. */
  pick?: (value: string) => string | undefined;
}

/** `user[:password]`, as `etcdctl --user` takes it. */
const userName = (value: string): string | undefined => value.split(':')[0] || undefined;
const userPassword = (value: string): string | undefined => (value.includes(':') ? value.slice(value.indexOf(':') + 1) || undefined : undefined);

const etcdctl = (name: string, pick?: ToolVariable['pick']): ToolVariable => ({ name, tool: "etcdctl's", ...(pick && { pick }) });
const aws = (name: string): ToolVariable => ({ name, tool: "the AWS CLI's" });

/** For each reshifter variable, the other tools' variables read in its place, in order. */
export const TOOL_VARIABLES: Readonly<Record<string, readonly ToolVariable[]>> = {
  RS_ETCD_ENDPOINTS: [etcdctl('ETCDCTL_ENDPOINTS')],
  RS_ETCD_CA_CERT: [etcdctl('ETCDCTL_CACERT')],
  RS_ETCD_CLIENT_CERT: [etcdctl('ETCDCTL_CERT')],
  RS_ETCD_CLIENT_KEY: [etcdctl('ETCDCTL_KEY')],
  RS_ETCD_USERNAME: [etcdctl('ETCDCTL_USER', userName)],
  RS_ETCD_PASSWORD: [etcdctl('ETCDCTL_PASSWORD'), etcdctl('ETCDCTL_USER', userPassword)],
  RS_S3_ENDPOINT: [aws('AWS_ENDPOINT_URL_S3'), aws('AWS_ENDPOINT_URL')],
  RS_S3_CA_CERT: [aws('AWS_CA_BUNDLE')],
  RS_S3_REGION: [aws('AWS_REGION'), aws('AWS_DEFAULT_REGION')],
};

/** Other tools' variables whose values must never appear in a message (ETCDCTL_USER may carry a password). */
export const TOOL_SECRETS: ReadonlySet<string> = new Set(['ETCDCTL_PASSWORD', 'ETCDCTL_USER']);
