/**
 * The part of JSON Schema (2020-12, as OpenAPI 3.1 uses it) that the API's documents need. The same objects
 * validate request bodies and are published in the OpenAPI document, so the two cannot drift apart.
 */
export interface Schema {
  type?: 'object' | 'array' | 'string' | 'integer' | 'number' | 'boolean';
  description?: string;
  properties?: Record<string, Schema>;
  required?: readonly string[];
  additionalProperties?: boolean | Schema;
  items?: Schema;
  maxItems?: number;
  enum?: readonly string[];
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  format?: string;
  /** `#/components/schemas/<Name>` */
  $ref?: string;
  oneOf?: readonly Schema[];
  example?: unknown;
}

/** What is wrong with a value: the field (`includeNamespaces[2]`, empty for the whole body) and why. */
export interface SchemaProblem {
  field: string;
  message: string;
}

/**
 * Checks `value` against `schema` and returns the first problem, or undefined when it fits. `$ref`s resolve in
 * `components`. As in JSON Schema, unknown object fields are allowed unless `additionalProperties` is false (as it is
 * for every request body).
 */
export function validate(schema: Schema, value: unknown, components: Record<string, Schema> = {}, field = ''): SchemaProblem | undefined {
  const at = (message: string): SchemaProblem => ({ field, message: field === '' ? message : `field "${field}" ${message}` });
  if (schema.$ref !== undefined) {
    const name = schema.$ref.replace(/^#\/components\/schemas\//, '');
    const target = components[name];
    if (!target) throw new Error(`schema reference ${schema.$ref} is not defined`);
    return validate(target, value, components, field);
  }
  if (schema.oneOf) {
    const fits = schema.oneOf.filter((s) => validate(s, value, components, field) === undefined).length;
    return fits === 1 ? undefined : at(fits === 0 ? 'matches none of the allowed forms' : 'matches more than one form');
  }
  switch (schema.type) {
    case undefined:
      return undefined;
    case 'string': {
      if (typeof value !== 'string') return at('must be a string');
      if (schema.enum && !schema.enum.includes(value)) return at(`must be one of ${schema.enum.join(', ')}`);
      if (schema.minLength !== undefined && value.length < schema.minLength) return at(`must be at least ${schema.minLength} characters`);
      if (schema.maxLength !== undefined && value.length > schema.maxLength) return at(`must be at most ${schema.maxLength} characters`);
      if (schema.pattern !== undefined && !new RegExp(schema.pattern).test(value)) return at(`is not valid${schema.description ? ` (${schema.description})` : ''}`);
      if (schema.format === 'date-time' && Number.isNaN(Date.parse(value))) return at('must be a date-time');
      return undefined;
    }
    case 'integer':
    case 'number': {
      if (typeof value !== 'number' || !Number.isFinite(value)) return at('must be a number');
      if (schema.type === 'integer' && !Number.isInteger(value)) return at('must be an integer');
      if (schema.minimum !== undefined && value < schema.minimum) return at(`must be at least ${schema.minimum}`);
      if (schema.maximum !== undefined && value > schema.maximum) return at(`must be at most ${schema.maximum}`);
      return undefined;
    }
    case 'boolean':
      return typeof value === 'boolean' ? undefined : at('must be true or false');
    case 'array': {
      if (!Array.isArray(value)) return at('must be an array');
      if (schema.maxItems !== undefined && value.length > schema.maxItems) return at(`must have at most ${schema.maxItems} items`);
      for (let i = 0; i < value.length; i++) {
        const p = schema.items ? validate(schema.items, value[i], components, `${field}[${i}]`) : undefined;
        if (p) return p;
      }
      return undefined;
    }
    case 'object':
      return validateObject(schema, value, components, field, at);
  }
}

/** The `object` case of validate: required fields, then each field against its property (or additionalProperties). */
function validateObject(schema: Schema, value: unknown, components: Record<string, Schema>, field: string, at: (m: string) => SchemaProblem): SchemaProblem | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return at('must be a JSON object');
  const obj = value as Record<string, unknown>;
  const child = (k: string) => (field === '' ? k : `${field}.${k}`);
  for (const k of schema.required ?? []) {
    if (!Object.prototype.hasOwnProperty.call(obj, k) || obj[k] === undefined) return { field: child(k), message: `field "${child(k)}" is required` };
  }
  for (const [k, v] of Object.entries(obj)) {
    const prop = schema.properties && Object.prototype.hasOwnProperty.call(schema.properties, k) ? schema.properties[k] : undefined;
    if (prop) {
      const p = validate(prop, v, components, child(k));
      if (p) return p;
    } else if (schema.additionalProperties === false) {
      return { field: child(k), message: `field "${child(k)}" is not allowed here` };
    } else if (typeof schema.additionalProperties === 'object') {
      const p = validate(schema.additionalProperties, v, components, child(k));
      if (p) return p;
    }
  }
  return undefined;
}
