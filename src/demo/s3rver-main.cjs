// Runs s3rver (a real S3-compatible HTTP server) as its own process, for tests and the benchmark:
//   node s3rver-main.cjs <port> <directory> <bucket>
// Prints "ready <port>" once it listens. A separate process, so a test can kill it mid-upload.
const S3rver = require('s3rver');
const [port, directory, bucket] = process.argv.slice(2);
new S3rver({
  port: Number(port),
  address: '127.0.0.1',
  directory,
  silent: true,
  allowMismatchedSignatures: true,
  configureBuckets: [{ name: bucket }],
})
  .run()
  .then((addr) => process.stdout.write(`ready ${addr.port}\n`))
  .catch((err) => {
    process.stderr.write(`${err.stack}\n`);
    process.exit(1);
  });
