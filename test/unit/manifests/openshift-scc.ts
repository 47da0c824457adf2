import { Ajv } from 'ajv';

/**
 * The structure of OpenShift's SecurityContextConstraints (security.openshift.io/v1), written from the fields of
 * openshift/api's `security/v1` types and the required list of its CRD: no npm package ships OpenShift's models, and
 * kubernetes-models validates only upstream kinds. Stricter than the CRD in two ways that catch our mistakes: no
 * unknown top-level field (the CRD would prune a typo silently) and the strategy types are the enums the API
 * server's SCC admission accepts.
 */
const idRange = { type: 'object', additionalProperties: false, properties: { min: { type: 'integer' }, max: { type: 'integer' } } };
const strings = { type: ['array', 'null'], items: { type: 'string' } };
const groupStrategy = {
  type: ['object', 'null'],
  additionalProperties: false,
  required: ['type'],
  properties: { type: { enum: ['MustRunAs', 'RunAsAny'] }, ranges: { type: 'array', items: idRange } },
};
const SCC_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: [
    'apiVersion', 'kind', 'metadata', 'allowHostDirVolumePlugin', 'allowHostIPC', 'allowHostNetwork', 'allowHostPID',
    'allowHostPorts', 'allowPrivilegedContainer', 'allowedCapabilities', 'defaultAddCapabilities', 'priority',
    'readOnlyRootFilesystem', 'requiredDropCapabilities', 'volumes',
  ],
  properties: {
    apiVersion: { const: 'security.openshift.io/v1' },
    kind: { const: 'SecurityContextConstraints' },
    metadata: {
      type: 'object',
      required: ['name'],
      // Cluster-scoped: a namespace here would be dropped by the API server and means the build went wrong.
      not: { required: ['namespace'] },
      properties: { name: { type: 'string', pattern: '^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$' }, labels: { type: 'object' }, annotations: { type: 'object' } },
    },
    allowHostDirVolumePlugin: { type: 'boolean' },
    allowHostIPC: { type: 'boolean' },
    allowHostNetwork: { type: 'boolean' },
    allowHostPID: { type: 'boolean' },
    allowHostPorts: { type: 'boolean' },
    allowPrivilegeEscalation: { type: ['boolean', 'null'] },
    defaultAllowPrivilegeEscalation: { type: ['boolean', 'null'] },
    allowPrivilegedContainer: { type: 'boolean' },
    allowedCapabilities: strings,
    defaultAddCapabilities: strings,
    requiredDropCapabilities: strings,
    allowedFlexVolumes: { type: ['array', 'null'], items: { type: 'object', required: ['driver'], properties: { driver: { type: 'string' } } } },
    allowedUnsafeSysctls: strings,
    forbiddenSysctls: strings,
    priority: { type: ['integer', 'null'] },
    readOnlyRootFilesystem: { type: 'boolean' },
    runAsUser: {
      type: ['object', 'null'],
      additionalProperties: false,
      required: ['type'],
      properties: {
        type: { enum: ['MustRunAs', 'MustRunAsRange', 'MustRunAsNonRoot', 'RunAsAny'] },
        uid: { type: 'integer' }, uidRangeMin: { type: 'integer' }, uidRangeMax: { type: 'integer' },
      },
    },
    seLinuxContext: {
      type: ['object', 'null'],
      additionalProperties: false,
      required: ['type'],
      properties: {
        type: { enum: ['MustRunAs', 'RunAsAny'] },
        seLinuxOptions: { type: 'object', properties: { user: { type: 'string' }, role: { type: 'string' }, type: { type: 'string' }, level: { type: 'string' } } },
      },
    },
    fsGroup: groupStrategy,
    supplementalGroups: groupStrategy,
    seccompProfiles: strings,
    volumes: {
      type: ['array', 'null'],
      items: {
        enum: [
          '*', 'none', 'awsElasticBlockStore', 'azureDisk', 'azureFile', 'cephFS', 'cinder', 'configMap', 'csi', 'downwardAPI',
          'emptyDir', 'ephemeral', 'fc', 'flexVolume', 'flocker', 'gcePersistentDisk', 'gitRepo', 'glusterfs', 'hostPath',
          'image', 'iscsi', 'nfs', 'persistentVolumeClaim', 'photonPersistentDisk', 'portworxVolume', 'projected', 'quobyte',
          'rbd', 'scaleIO', 'secret', 'storageOS', 'vsphere',
        ],
      },
    },
    users: strings,
    groups: strings,
  },
};

const validate = new Ajv({ allErrors: true }).compile(SCC_SCHEMA);

/** Validates a SecurityContextConstraints object; returns one message per problem. */
export function validateScc(doc: unknown): string[] {
  if (validate(doc)) return [];
  return (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? ''}${e.params ? ` ${JSON.stringify(e.params)}` : ''}`);
}
