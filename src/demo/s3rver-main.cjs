// Runs s3rver (a real S3-compatible HTTP server) as its own process, for tests and the benchmark:
//   node s3rver-main.cjs <port> <directory> <bucket> [<address>, default 127.0.0.1] [signatures]
// With `signatures`, requests signed with other credentials than s3rver's own (S3RVER / S3RVER) are refused, as a
// real S3 refuses a wrong secret key (SignatureDoesNotMatch) or an unknown access key (InvalidAccessKeyId).
// Prints "ready <port>" once it listens. A separate process, so a test can kill it mid-upload.
// Run it with `node --openssl-legacy-provider`: s3rver makes listing continuation tokens with DES, which Node's
// OpenSSL 3 keeps in its legacy provider, and without it every listing longer than a page (1000 keys) fails with 500.
const S3rver = require('s3rver');
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
