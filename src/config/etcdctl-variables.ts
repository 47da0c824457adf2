/**
 * etcdctl's own variables, read for the etcd connection when reshifter's are not set: a control-plane shell that
 * exports ETCDCTL_ENDPOINTS, ETCDCTL_CACERT, ETCDCTL_CERT and ETCDCTL_KEY (as kubeadm and k3s guides have operators
 * do) reaches the same etcd with reshifter as with etcdctl, instead of the default http://127.0.0.1:2379. One
 * variable at a time, as etcdctl reads them: an RS_ variable (or its older name) always wins.
 */
export interface EtcdctlVariable {
  name: string;
  /** The part of the value that counts (ETCDCTL_USER is `name` or `name:password`); undefined: not set here. */
  pick?: (value: string) => string | undefined;
}

/** `user[:password]`, as `etcdctl --user` takes it. */
const userName = (value: string): string | undefined => value.split(':')[0] || undefined;
const userPassword = (value: string): string | undefined => (value.includes(':') ? value.slice(value.indexOf(':') + 1) || undefined : undefined);

/** For each reshifter variable, the etcdctl variables read in its place, in order. */
export const ETCDCTL_VARIABLES: Readonly<Record<string, readonly EtcdctlVariable[]>> = {
  RS_ETCD_ENDPOINTS: [{ name: 'ETCDCTL_ENDPOINTS' }],
  RS_ETCD_CA_CERT: [{ name: 'ETCDCTL_CACERT' }],
  RS_ETCD_CLIENT_CERT: [{ name: 'ETCDCTL_CERT' }],
  RS_ETCD_CLIENT_KEY: [{ name: 'ETCDCTL_KEY' }],
  RS_ETCD_USERNAME: [{ name: 'ETCDCTL_USER', pick: userName }],
  RS_ETCD_PASSWORD: [{ name: 'ETCDCTL_PASSWORD' }, { name: 'ETCDCTL_USER', pick: userPassword }],
};

/** etcdctl variables whose values must never appear in a message (ETCDCTL_USER may carry a password). */
export const ETCDCTL_SECRETS: ReadonlySet<string> = new Set(['ETCDCTL_PASSWORD', 'ETCDCTL_USER']);
