import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { freePort } from './ports.js';

export interface TestPushgateway {
  url: string;
  /** The gateway's own exposition of what it holds: the sample lines of `name` (labels and value). */
  samples(name: string): Promise<string[]>;
  stop(): Promise<void>;
}

/** Debian's Prometheus Pushgateway (`prometheus-pushgateway`) on a free loopback port. Debian builds it to persist into
 * /var/lib/prometheus by default: turned off, so each gateway starts empty. */
export async function startPushgateway(): Promise<TestPushgateway> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const proc = spawn('prometheus-pushgateway', [`--web.listen-address=127.0.0.1:${port}`, '--persistence.file='], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  proc.stderr!.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-4000)));
  const exited = once(proc, 'exit');
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`prometheus-pushgateway exited with ${proc.exitCode}: ${log}`);
    const ready = await fetch(`${url}/-/ready`).then((r) => r.ok, () => false);
    if (ready) break;
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`prometheus-pushgateway did not become ready on ${url}: ${log}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    async samples(name) {
      const text = await (await fetch(`${url}/metrics`)).text();
      return text.split('\n').filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));
    },
    async stop() {
      if (proc.exitCode === null) {
        proc.kill('SIGTERM');
        await exited;
      }
    },
  };
}
