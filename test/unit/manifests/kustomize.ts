import { execFileSync } from 'node:child_process';
import { parseAllDocuments } from 'yaml';

export type Doc = Record<string, any>;

/** Parses a multi-document YAML text; a syntax error names `what`. */
export function parseDocs(text: string, what: string): Doc[] {
  const docs = parseAllDocuments(text);
  const list = Array.isArray(docs) ? docs : [docs];
  for (const d of list) {
    if (d.errors.length > 0) throw new Error(`${what}: ${d.errors.map((e) => e.message).join('; ')}`);
  }
  return list.map((d) => d.toJS() as Doc).filter((d) => d !== null);
}

/**
 * `kubectl kustomize dir`, parsed. kubectl is required, not optional: scripts/install-deps.sh installs one whose
 * kustomize reads components and `patches` (kubectl 1.21 or newer), and a missing or older one fails here by name.
 */
export function kustomize(dir: string): Doc[] {
  let out: string;
  try {
    out = execFileSync('kubectl', ['kustomize', dir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') throw new Error('kubectl is not installed: run scripts/install-deps.sh');
    let version = '';
    try {
      version = execFileSync('kubectl', ['version', '--client'], { encoding: 'utf8' }).trim();
    } catch {
      /* the build error says enough */
    }
    throw new Error(`kubectl kustomize ${dir} failed (${version}; kubectl 1.21 or newer is needed): ${e.stderr ?? e.message}`);
  }
  return parseDocs(out, `kubectl kustomize ${dir}`);
}

/** The pod template's spec of a Deployment or CronJob. */
export const podSpec = (d: Doc): Doc => (d.kind === 'CronJob' ? d.spec.jobTemplate.spec.template.spec : d.spec.template.spec);

/** The first container's environment as a name -> value map. */
export const envOf = (d: Doc): Record<string, string> =>
  Object.fromEntries((podSpec(d).containers[0].env as Doc[]).map((e) => [e.name, String(e.value)]));
