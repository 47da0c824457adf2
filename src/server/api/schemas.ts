import { BACKUP_ID_RE } from '../../core/naming.js';
import type { Schema } from './schema.js';

const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });
const count: Schema = { type: 'integer', minimum: 0 };
const text: Schema = { type: 'string' };
const names = (what: string, re: string): Schema => ({
  type: 'array',
  maxItems: 256,
  items: { type: 'string', pattern: re, maxLength: 253, description: `a ${what} name` },
});

/** A backup id as the API takes it in a path: an id, or `latest`. */
export const BACKUP_ID_PARAM: Schema = {
  type: 'string',
  pattern: `^(latest|${BACKUP_ID_RE.source.slice(1, -1)})$`,
  description: 'a backup id like 20261122T030710.123Z-a1b2c3, or "latest"',
};
/** A strategy as backups are taken with it; as a query or field of a read, it names the series `latest` is taken from. */
export const STRATEGY_SCHEMA: Schema = {
  type: 'string',
  pattern: '^(snapshot|raw|render|filter:[a-z0-9][a-z0-9.-]*(,[a-z0-9][a-z0-9.-]*)*|checkpoint(:[a-z0-9-]+/[a-z0-9.-]+/[a-z0-9-]+)?)$',
  description: 'snapshot, raw, render, filter:<resource>[,<resource>...] or checkpoint; as a series, checkpoint:<namespace>/<pod>/<container> is one container\'s',
  example: 'filter:deployments,services',
};
export const JOB_ID_PARAM: Schema = { type: 'string', pattern: '^[0-9a-f-]{36}$', description: 'a job id (a UUID)' };

/** The schemas the OpenAPI document publishes under `components.schemas`; request bodies are validated with them. */
export const COMPONENTS: Record<string, Schema> = {
  Error: {
    type: 'object',
    required: ['error', 'code'],
    properties: {
      error: { type: 'string', description: 'what went wrong, for people' },
      code: { type: 'string', description: 'what went wrong, for programs', example: 'bad_request' },
      field: { type: 'string', description: 'the request field that was wrong' },
    },
  },
  Version: { type: 'object', required: ['version', 'node'], properties: { version: text, commit: text, node: text } },
  Manifest: {
    type: 'object',
    description: 'A backup: its manifest, as stored beside the artifact.',
    required: ['format', 'id', 'cluster', 'strategy', 'createdAt', 'artifact', 'contentType', 'compression', 'encryption', 'sha256', 'sizeBytes', 'rawSizeBytes', 'tool'],
    properties: {
      format: { type: 'integer', minimum: 1, maximum: 1 },
      id: text,
      cluster: text,
      strategy: { type: 'string', example: 'snapshot' },
      createdAt: { type: 'string', format: 'date-time' },
      artifact: text,
      contentType: { type: 'string', description: 'etcd-snapshot, tar (key dump), jsonl (render listing) or container-checkpoint' },
      compression: { type: 'string', enum: ['zstd', 'gzip', 'none'] },
      encryption: { type: 'string', enum: ['none', 'age'] },
      encryptedTo: {
        description: 'with encryption age: the public keys (age1...) it was encrypted to, or that a passphrase was used; absent in older manifests',
        oneOf: [
          { type: 'object', required: ['recipients'], additionalProperties: false, properties: { recipients: { type: 'array', items: { type: 'string', pattern: '^age1[02-9ac-hj-np-z]{58}$' } } } },
          { type: 'object', required: ['passphrase'], additionalProperties: false, properties: { passphrase: { type: 'boolean', description: 'true' } } },
        ],
      },
      sha256: { type: 'string', pattern: '^[0-9a-f]{64}$' },
      sizeBytes: count,
      rawSizeBytes: count,
      etcd: {
        type: 'object',
        required: ['version', 'revision', 'apiVersion'],
        description: 'the etcd it was taken from; every backup but a container checkpoint has it',
        properties: {
          version: text, revision: count, apiVersion: { type: 'string', enum: ['v2', 'v3'] }, endpoint: text,
          members: {
            type: 'array',
            description: 'the members of the cluster it was taken from (v3 backups; absent in older ones or when etcd did not list them)',
            items: { type: 'object', required: ['name', 'peerURLs'], properties: { name: text, peerURLs: { type: 'array', items: text } } },
          },
        },
      },
      checkpoint: {
        type: 'object',
        description: 'a container checkpoint (strategy checkpoint): the container, the node, and the archive the kubelet wrote',
        required: ['namespace', 'pod', 'container', 'podUid', 'kubeletPath', 'fileName', 'archiveSha256', 'architecture'],
        properties: {
          namespace: text, pod: text, container: text, podUid: text, node: text, kubeletPath: text, fileName: text, checkpointedAt: text,
          archiveSha256: { type: 'string', pattern: '^[0-9a-f]{64}$' }, architecture: text, containerManager: text, runtime: text, rootfsImageName: text, rootfsImageRef: text,
        },
      },
      keys: count,
      prefixes: { type: 'array', items: text },
      tool: { type: 'object', required: ['name', 'version'], properties: { name: text, version: text, commit: text } },
      durationMs: count,
      unusable: {
        type: 'string',
        enum: ['artifact-missing', 'artifact-size'],
        description: 'in listings only: the store does not hold the artifact (missing) or holds it at another size than the manifest says (cut short); the backup restores nothing',
      },
    },
  },
  Cluster: {
    type: 'object',
    description: 'One cluster of a store shared by a fleet.',
    required: ['cluster', 'backups', 'current'],
    properties: {
      cluster: text,
      backups: { ...count, description: 'backups with a manifest' },
      newest: {
        type: 'object',
        required: ['id', 'createdAt', 'strategy', 'sizeBytes'],
        properties: { id: text, createdAt: { type: 'string', format: 'date-time' }, strategy: text, sizeBytes: count },
      },
      ageSeconds: { ...count, description: "seconds since the newest backup's creation" },
      current: { type: 'boolean', description: 'the cluster this server is configured for (RS_CLUSTER_NAME)' },
      copyOf: { ...text, description: "the cluster every manifest of the folder names, when it is another: a copy of that cluster's folder under another name" },
    },
  },
  Job: {
    type: 'object',
    required: ['id', 'kind', 'trigger', 'state', 'writes', 'params', 'createdAt', 'progress'],
    properties: {
      id: text,
      kind: { type: 'string', enum: ['backup', 'verify', 'restore'] },
      trigger: { type: 'string', enum: ['api', 'schedule'] },
      state: { type: 'string', enum: ['queued', 'running', 'succeeded', 'failed'] },
      writes: { type: 'boolean', description: 'writing jobs (backup, restore) run one at a time, in order' },
      params: { type: 'object', description: 'what the job was asked to do' },
      createdAt: { type: 'string', format: 'date-time' },
      startedAt: { type: 'string', format: 'date-time' },
      finishedAt: { type: 'string', format: 'date-time' },
      progress: {
        type: 'object',
        required: ['bytes', 'keys'],
        properties: {
          bytes: count,
          keys: count,
          totalBytes: { ...count, description: 'about how many bytes the job reads, when known (a snapshot: the database size etcd reported as it started)' },
          bytesPerSecond: { type: 'number', minimum: 0, description: 'recent rate (the last few seconds), while running' },
        },
      },
      queuePosition: { type: 'integer', minimum: 1, description: 'writing jobs ahead of this one' },
      result: { description: 'backup: the Manifest (a checkpoint backup: one Manifest per container); verify: a VerifyResult; restore: the plan or the counts' },
      error: text,
    },
  },
  Check: { type: 'object', required: ['name', 'ok', 'detail'], properties: { name: text, ok: { type: 'boolean' }, detail: text, skipped: { type: 'boolean' } } },
  VerifyResult: {
    type: 'object',
    required: ['id', 'ok', 'checks'],
    properties: { id: text, ok: { type: 'boolean' }, checks: { type: 'array', items: ref('Check') } },
  },
  BackupRef: {
    type: 'object',
    required: ['id', 'createdAt', 'strategy'],
    properties: { id: text, createdAt: { type: 'string', format: 'date-time' }, strategy: text },
  },
  Diff: {
    type: 'object',
    required: ['from', 'to', 'summary', 'groups', 'objects', 'truncated'],
    properties: {
      from: ref('BackupRef'),
      to: ref('BackupRef'),
      summary: {
        type: 'object',
        required: ['added', 'removed', 'changed', 'unchanged', 'ignored', 'outside'],
        properties: {
          added: count, removed: count, changed: count, unchanged: count, ignored: { ...count, description: 'apiserver bookkeeping keys, not compared' },
          outside: { ...count, description: 'keys outside scope, which only one of the backups can hold: not compared' },
        },
      },
      scope: {
        type: 'array',
        items: text,
        description: 'with a key dump on either side: the prefixes whose keys were compared, those both backups hold (a key dump holds only its prefixes, a snapshot every key)',
      },
      filtered: {
        type: 'array',
        items: text,
        description: 'the ids of the backups that hold only the resources and namespaces their filters selected (filter: dumps): only the keys both backups can hold were compared, the others are counted as outside',
      },
      groups: {
        type: 'array',
        items: {
          type: 'object',
          required: ['resource', 'added', 'removed', 'changed'],
          properties: { resource: text, namespace: text, added: count, removed: count, changed: count },
        },
      },
      objects: {
        type: 'array',
        items: {
          type: 'object',
          required: ['change', 'key', 'resource'],
          properties: {
            change: { type: 'string', enum: ['added', 'removed', 'changed'] },
            key: { type: 'string', description: 'the key as text; when it is not UTF-8, its printed form (\\xNN escapes), with keyBase64' },
            keyBase64: { type: 'string', description: 'the exact bytes of a key that is not UTF-8' },
            resource: text,
            namespace: text,
            name: text,
            fields: ref('FieldDiff'),
          },
        },
      },
      truncated: { type: 'boolean', description: 'more objects differ than the list holds (see limit)' },
    },
  },
  FieldDiff: {
    type: 'object',
    description: 'Which fields of a changed Kubernetes object differ (the first 1000 changed objects listed).',
    required: ['compared', 'changes', 'truncated'],
    properties: {
      compared: {
        type: 'string',
        enum: ['object', 'metadata', 'none'],
        description: 'object: the whole object (JSON, CBOR; protobuf ConfigMaps and Secrets); metadata: apiVersion, kind and metadata (other protobuf values); none: see note',
      },
      changes: {
        type: 'array',
        items: {
          type: 'object',
          required: ['path', 'change'],
          properties: {
            path: { type: 'string', example: 'spec.template.spec.containers[0].image' },
            change: { type: 'string', enum: ['added', 'removed', 'changed'] },
            from: { type: 'string', description: 'the old value as JSON, cut to 160 characters' },
            to: { type: 'string', description: 'the new value as JSON, cut to 160 characters' },
          },
        },
      },
      truncated: { type: 'boolean', description: 'more fields differ than listed' },
      valuesHidden: { type: 'string', enum: ['sensitive', 'no-token'], description: 'why from and to are left out: a Secret (or OAuth token, Helm release), or an API without a token' },
      note: text,
    },
  },
  Stats: {
    type: 'object',
    description: 'Keys and bytes per prefix, resource, namespace and value encoding, as `reshifter stats --json` prints them.',
    required: ['source', 'keys', 'keyBytes', 'valueBytes', 'byPrefix', 'byResource', 'byNamespace', 'byEncoding'],
    properties: {
      source: { type: 'object', required: ['kind', 'revision'], properties: { kind: { type: 'string', enum: ['live', 'backup'] }, revision: count, id: text } },
      keys: count,
      keyBytes: count,
      valueBytes: count,
      byPrefix: ref('Tallies'),
      byResource: ref('Tallies'),
      byNamespace: ref('Tallies'),
      byEncoding: ref('Tallies'),
    },
  },
  Tallies: {
    type: 'object',
    additionalProperties: { type: 'object', required: ['keys', 'bytes'], properties: { keys: count, bytes: count } },
  },
  Explore: {
    type: 'object',
    description: 'What the etcd endpoint is and holds, as `reshifter explore --json` prints it.',
    required: ['endpoints', 'etcdVersion', 'revision', 'dbSizeBytes'],
    properties: {
      endpoints: { type: 'array', items: text },
      etcdVersion: text,
      revision: count,
      dbSizeBytes: count,
      alarms: { type: 'array', items: text, description: "alarms etcd has raised (NOSPACE, CORRUPT), with the member: etcd refuses writes under them" },
      keyspaceError: { type: 'string', description: 'why the v3 keyspace could not be read (credentials refused or missing; the cluster lost its quorum); the rest is what etcd tells anyone (or the members that answer)' },
      quorumLost: { type: 'boolean', description: 'the v3 keyspace was not read because etcd has lost its quorum (keyspaceError says so): kubernetes is then not known, not none' },
      unanswered: {
        type: 'array',
        description: 'configured endpoints that did not answer (a member down), with why; the others were explored',
        items: { type: 'object', required: ['endpoint', 'error'], properties: { endpoint: text, error: text } },
      },
      endpointStatus: {
        type: 'array',
        description: "each configured endpoint's own status, as etcdctl endpoint status shows it: its leader ('0': none, cut off or quorum lost), raft term and index, revision; error when it did not answer",
        items: { type: 'object', required: ['endpoint'], properties: { endpoint: text, error: text, memberId: text, leader: text, raftTerm: count, raftIndex: count, raftAppliedIndex: count, revision: count, errors: { type: 'array', items: text } } },
      },
    },
  },
  BackupRequest: {
    type: 'object',
    additionalProperties: false,
    properties: {
      strategy: { ...STRATEGY_SCHEMA, description: 'snapshot, raw, render, filter:<resource>[,<resource>...] or checkpoint (RS_CHECKPOINT_TARGETS); default RS_BACKUP_STRATEGY' },
    },
  },
  RestoreRequest: {
    type: 'object',
    additionalProperties: false,
    required: ['backupId'],
    properties: {
      backupId: BACKUP_ID_PARAM,
      strategy: { ...STRATEGY_SCHEMA, description: 'with backupId "latest": the newest restorable backup of this series' },
      dryRun: { type: 'boolean', description: 'plan only: read the target, write nothing (default false)' },
      includeNamespaces: names('namespace', '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'),
      excludeNamespaces: names('namespace', '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'),
      includeResources: names('resource', '^[a-z0-9][a-z0-9.-]*$'),
      excludeResources: names('resource', '^[a-z0-9][a-z0-9.-]*$'),
      skipExisting: { type: 'boolean', description: 'leave keys the target already has alone (default false)' },
      to: {
        type: 'string',
        description:
          'restore to a point: a revision (5310), an RFC 3339 time (2026-11-22T14:05:00Z) or "latest", over the changes continuous backups recorded after the backup ' +
          '(backupId "latest": the newest key dump or snapshot at or before it); the result adds `point` and `deletes`',
      },
    },
  },
};
