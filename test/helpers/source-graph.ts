import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';

/** A module of src/ by its path relative to src/ (`ops/backup.ts`), the modules of src/ it imports, and the packages. */
export interface SourceModule {
  path: string;
  imports: Array<{ path: string; dynamic: boolean }>;
  /** Packages and Node built-ins it imports statically (`etcd3`, `@aws-sdk/client-s3`, `node:fs`). */
  packages: string[];
}

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return walk(p);
    return /\.(ts|mts)$/.test(e.name) && !e.name.endsWith('.d.ts') ? [p] : [];
  });
}

/**
 * Every TypeScript module under `root` with its imports of other modules under `root`: static `import` and
 * `export ... from`, type-only ones included (they still say which way a folder depends), and `import('...')`.
 */
export function sourceGraph(root: string): SourceModule[] {
  const files = walk(root);
  const known = new Set(files.map((f) => relative(root, f)));
  return files.map((file) => {
    const text = readFileSync(file, 'utf8');
    const info = ts.preProcessFile(text, true, true);
    const dynamic = new Set<number>();
    // preProcessFile lists dynamic imports among the others; tell them apart by the text before the specifier.
    for (const ref of info.importedFiles) {
      if (/import\(\s*$/.test(text.slice(Math.max(0, ref.pos - 20), ref.pos))) dynamic.add(ref.pos);
    }
    const imports = info.importedFiles
      .filter((ref) => ref.fileName.startsWith('.'))
      .map((ref) => ({ path: relative(root, resolve(dirname(file), ref.fileName.replace(/\.js$/, '.ts'))), dynamic: dynamic.has(ref.pos) }))
      .filter((i) => known.has(i.path));
    const packages = info.importedFiles.filter((ref) => !ref.fileName.startsWith('.') && !dynamic.has(ref.pos)).map((ref) => ref.fileName);
    return { path: relative(root, file), imports, packages };
  });
}

/** Every module `entry` loads before it runs (its static imports, theirs, and so on), `entry` included. */
export function staticClosure(modules: readonly SourceModule[], entry: string): SourceModule[] {
  const byPath = new Map(modules.map((m) => [m.path, m]));
  const seen = new Set<string>();
  const visit = (path: string): void => {
    if (seen.has(path)) return;
    seen.add(path);
    for (const i of byPath.get(path)?.imports ?? []) if (!i.dynamic) visit(i.path);
  };
  visit(entry);
  return [...seen].map((p) => byPath.get(p)!);
}

/** The cycles of the graph (each as the list of modules around it), found by Tarjan's strongly connected components. */
export function importCycles(modules: readonly SourceModule[]): string[][] {
  const edges = new Map(modules.map((m) => [m.path, m.imports.map((i) => i.path)]));
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of edges.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const component: string[] = [];
    for (let w = stack.pop()!; ; w = stack.pop()!) {
      onStack.delete(w);
      component.push(w);
      if (w === v) break;
    }
    if (component.length > 1 || (edges.get(v) ?? []).includes(v)) cycles.push(component.sort());
  };
  for (const m of modules) if (!index.has(m.path)) visit(m.path);
  return cycles;
}

/** A function (declaration, method, arrow or expression) and its length in lines, from its first line to its last. */
export interface FunctionSize {
  file: string;
  name: string;
  line: number;
  lines: number;
}

function nameOf(node: ts.Node, sf: ts.SourceFile): string {
  const named = node as ts.Node & { name?: ts.Node };
  if (named.name) return named.name.getText(sf);
  const parent = node.parent;
  if (ts.isVariableDeclaration(parent) || ts.isPropertyAssignment(parent) || ts.isPropertyDeclaration(parent)) return parent.name.getText(sf);
  return '(anonymous)';
}

/** Every function of every module under `root` with its length in lines. */
export function functionSizes(root: string): FunctionSize[] {
  const out: FunctionSize[] = [];
  for (const file of walk(root)) {
    const sf = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
    const visit = (node: ts.Node): void => {
      if (ts.isFunctionLike(node) && 'body' in node && node.body !== undefined) {
        const start = sf.getLineAndCharacterOfPosition(node.getStart(sf)).line;
        const end = sf.getLineAndCharacterOfPosition(node.getEnd()).line;
        out.push({ file: relative(root, file), name: nameOf(node, sf), line: start + 1, lines: end - start + 1 });
      }
      ts.forEachChild(node, visit);
    };
    visit(sf);
  }
  return out.sort((a, b) => b.lines - a.lines);
}
