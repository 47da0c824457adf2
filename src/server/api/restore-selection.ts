import type { OpContext } from '../../ops/context.js';
import type { RestoreRequest } from './services.js';

/** The configured selection with the request's filters in place of the ones it names. */
export function restoreSelection(base: OpContext['config']['selection'], req: RestoreRequest): OpContext['config']['selection'] {
  return {
    ...base,
    ...(req.includeNamespaces && { includeNamespaces: req.includeNamespaces }),
    ...(req.excludeNamespaces && { excludeNamespaces: req.excludeNamespaces }),
    ...(req.includeResources && { includeResources: req.includeResources }),
    ...(req.excludeResources && { excludeResources: req.excludeResources }),
  };
}
