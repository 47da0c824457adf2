// Runs s3rver (a real S3-compatible HTTP server) as its own process, for tests and the benchmark:
//   node s3rver-main.cjs <port> <directory> <bucket> [<address>, default 127.0.0.1] [signatures]
// With `signatures`, requests signed with other credentials than s3rver's own (S3RVER / S3RVER) are refused, as a
// real S3 refuses a wrong secret key (SignatureDoesNotMatch) or an unknown access key (InvalidAccessKeyId).
// Prints "ready <port>" once it listens. A separate process, so a test can kill it mid-upload.
// Run it with `node --openssl-legacy-provider`: s3rver makes listing continuation tokens with DES, which Node's
// OpenSSL 3 keeps in its legacy provider, and without it every listing longer than a page (1000 keys) fails with 500.
const S3rver = require('s3rver');
const FilesystemStore = require('s3rver/lib/stores/filesystem');
const { walk } = require('s3rver/lib/utils');

// s3rver 3.7.1's listing with a delimiter walks no folder beneath a common prefix, so it rolls up only keys one folder
// below the prefix: a folder holding only folders (team/ of team/etcd/prod/x) is listed as nothing, where S3 lists
// team/ for every key below it, at any depth (ListObjectsV2: CommonPrefixes holds every key's part between Prefix and
// the next delimiter; `aws s3api list-objects-v2 --delimiter /` against s3rver shows none). A fix of the stand-in,
// not of reshifter: with `/` as delimiter, the folders below the prefix that hold an object at any depth are added
// as S3 rolls them up (a folder is walked until its first object: its common prefix is then known).
const listObjects = FilesystemStore.prototype.listObjects;
FilesystemStore.prototype.listObjects = async function (bucket, options) {
  const res = await listObjects.call(this, bucket, options);
  const { delimiter = '', prefix = '', startAfter = '' } = options;
  if (delimiter !== '/' || process.platform === 'win32') return res;
  const bucketPath = this.getBucketPath(bucket);
  const under = `${bucketPath}/${prefix}`;
  const found = new Set(res.commonPrefixes);
  const rolledUp = (path) => `${path.slice(bucketPath.length + 1, under.length + path.slice(under.length).indexOf('/'))}/`;
  const inside = (dir) => (dir.startsWith(under) ? dir.slice(under.length).indexOf('/') === -1 || !found.has(rolledUp(`${dir}/`)) : under.startsWith(dir));
  for (const file of walk(bucketPath, inside)) {
    if (!file.endsWith('._S3rver_object') || !file.startsWith(under)) continue;
    const key = file.slice(bucketPath.length + 1, -'._S3rver_object'.length);
    if (key <= startAfter || !key.slice(prefix.length).includes('/')) continue;
    // A page cut short by MaxKeys ends at its last key: what comes after is the next page's.
    const folder = rolledUp(file);
    if (!res.isTruncated || folder < res.objects.at(-1).key) found.add(folder);
  }
  return { ...res, commonPrefixes: [...found].sort() };
};
const [port, directory, bucket, address = '127.0.0.1', check] = process.argv.slice(2);
new S3rver({
  port: Number(port),
  address,
  // s3rver takes a bracketed IPv6 host (`[::1]`, which its isIP check does not know) for a virtual-hosted bucket name.
  vhostBuckets: !address.includes(':'),
  directory,
  silent: true,
  allowMismatchedSignatures: check !== 'signatures',
  configureBuckets: [{ name: bucket }],
})
  .run()
  .then((addr) => process.stdout.write(`ready ${addr.port}\n`))
  .catch((err) => {
    process.stderr.write(`${err.stack}\n`);
    process.exit(1);
  });
