export { startEtcd, type TestEtcd, type EtcdOptions } from '../../src/demo/local-etcd.js';
