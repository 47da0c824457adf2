import type { OpContext } from '../../ops/context.js';
import type { RestoreRequest } from './services.js';

const FIELDS = ['includeNamespaces', 'excludeNamespaces', 'includeResources', 'excludeResources'] as const;

/**
 * The configured selection with the request's filters in place of the ones it names, each named by its field in what
 * the restore says of it (the caller set no RS_INCLUDE_NAMESPACES: it sent includeNamespaces).
 */
export function restoreSelection(base: OpContext['config']['selection'], req: RestoreRequest): OpContext['config']['selection'] {
  const given = FIELDS.filter((f) => req[f] !== undefined);
  return {
    ...base,
    // Set for every request, as the mark of one: what lists the names a filter could give is the API's stats route.
    named: { ...base.named, ...Object.fromEntries(given.map((f) => [f, f])) },
    ...(req.includeNamespaces && { includeNamespaces: req.includeNamespaces }),
    ...(req.excludeNamespaces && { excludeNamespaces: req.excludeNamespaces }),
    ...(req.includeResources && { includeResources: req.includeResources }),
    ...(req.excludeResources && { excludeResources: req.excludeResources }),
  };
}
