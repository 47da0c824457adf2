/** A Config['selection'] with no prefixes and no filters but those given. */
export const selectionOf = (o: Partial<Record<'includeNamespaces' | 'excludeNamespaces' | 'includeResources' | 'excludeResources', string[]>> = {}) => ({
  prefixes: [],
  includeNamespaces: [],
  excludeNamespaces: [],
  includeResources: [],
  excludeResources: [],
  ...o,
});
