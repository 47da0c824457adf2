import ts from 'typescript';

/** Where the model class of an apiVersion/kind lives: kubernetes-models, or the Prometheus Operator's models. */
export function modelModule(apiVersion: string, kind: string): string {
  if (apiVersion.startsWith('monitoring.coreos.com/')) return `@kubernetes-models/prometheus-operator/${apiVersion}/${kind}`;
  return `kubernetes-models/${apiVersion}/${kind}`;
}

/** Validates a document against its Kubernetes API schema (types, required fields, enums); returns the problems. */
export async function validateSchema(doc: { apiVersion: string; kind: string }): Promise<string[]> {
  let Model: new (data: unknown) => { validate(): void };
  try {
    Model = (await import(modelModule(doc.apiVersion, doc.kind)))[doc.kind];
  } catch {
    return [`no schema for ${doc.apiVersion} ${doc.kind}`];
  }
  try {
    new Model(doc).validate();
    return [];
  } catch (err) {
    return [(err as Error).message];
  }
}

/**
 * Finds fields the API does not know (a misspelled `readinesProbe` passes the JSON schemas, which allow extra
 * properties): each document is type-checked as an object literal of the model's TypeScript interface, whose
 * excess-property check names every unknown field. Returns one message per problem.
 */
export function unknownFields(docs: Array<{ name: string; doc: { apiVersion: string; kind: string } }>): string[] {
  const lines: string[] = [];
  docs.forEach(({ doc }, i) => {
    lines.push(`import type { I${doc.kind} as T${i} } from '${modelModule(doc.apiVersion, doc.kind)}';`);
    lines.push(`export const d${i}: T${i} = ${JSON.stringify(doc)};`);
  });
  const fileName = `${process.cwd()}/.manifest-check.ts`;
  const source = lines.join('\n');
  const options: ts.CompilerOptions = {
    strict: true, noEmit: true, skipLibCheck: true, types: [],
    module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, target: ts.ScriptTarget.ES2022,
  };
  const host = ts.createCompilerHost(options);
  const read = host.readFile.bind(host);
  const exists = host.fileExists.bind(host);
  host.readFile = (f) => (f === fileName ? source : read(f));
  host.fileExists = (f) => f === fileName || exists(f);
  host.getSourceFile = ((orig) => (f: string, lang: ts.ScriptTarget | ts.CreateSourceFileOptions, ...rest: [((m: string) => void)?, boolean?]) =>
    f === fileName ? ts.createSourceFile(f, source, lang) : orig(f, lang, ...rest))(host.getSourceFile.bind(host));
  const program = ts.createProgram([fileName], options, host);
  return ts.getPreEmitDiagnostics(program).map((d) => {
    const line = d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start).line : -1;
    const which = line >= 0 ? docs[Math.floor(line / 2)]?.name ?? '?' : '?';
    return `${which}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`;
  });
}
