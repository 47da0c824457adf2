import { describe, expect, it } from 'vitest';
import { validate, type Schema } from '../../../src/server/api/schema.js';
import { COMPONENTS } from '../../../src/server/api/schemas.js';

describe('validate', () => {
  const body: Schema = {
    type: 'object',
    additionalProperties: false,
    required: ['id'],
    properties: {
      id: { type: 'string', pattern: '^[a-z]+$' },
      n: { type: 'integer', minimum: 1, maximum: 5 },
      on: { type: 'boolean' },
      tags: { type: 'array', maxItems: 2, items: { type: 'string', enum: ['a', 'b'] } },
      inner: { type: 'object', properties: { x: { type: 'number' } } },
    },
  };

  it('accepts what fits', () => {
    expect(validate(body, { id: 'abc', n: 3, on: false, tags: ['a', 'b'], inner: { x: 1.5, extra: true } })).toBeUndefined();
  });

  it.each([
    [null, '', 'must be a JSON object'],
    [[], '', 'must be a JSON object'],
    [{}, 'id', 'field "id" is required'],
    [{ id: 'ABC' }, 'id', 'field "id" is not valid'],
    [{ id: 'a', n: 2.5 }, 'n', 'field "n" must be an integer'],
    [{ id: 'a', n: 9 }, 'n', 'field "n" must be at most 5'],
    [{ id: 'a', n: '2' }, 'n', 'field "n" must be a number'],
    [{ id: 'a', on: 'yes' }, 'on', 'field "on" must be true or false'],
    [{ id: 'a', tags: ['a', 'c'] }, 'tags[1]', 'field "tags[1]" must be one of a, b'],
    [{ id: 'a', tags: ['a', 'a', 'a'] }, 'tags', 'field "tags" must have at most 2 items'],
    [{ id: 'a', inner: { x: 'no' } }, 'inner.x', 'field "inner.x" must be a number'],
    [{ id: 'a', colour: 'red' }, 'colour', 'field "colour" is not allowed here'],
  ])('%j: names %s', (value, field, message) => {
    expect(validate(body, value)).toEqual({ field, message });
  });

  it('treats a __proto__ key as data, not as a known property', () => {
    expect(validate(body, JSON.parse('{"id":"a","__proto__":{"x":1}}'))).toMatchObject({ field: '__proto__' });
  });

  it('resolves $refs in the components, and fails loudly on a missing one', () => {
    expect(validate({ $ref: '#/components/schemas/RestoreRequest' }, { backupId: 'latest', dryRun: true }, COMPONENTS)).toBeUndefined();
    expect(validate({ $ref: '#/components/schemas/RestoreRequest' }, { backupId: 'latest', skipExisting: 1 }, COMPONENTS)).toMatchObject({ field: 'skipExisting' });
    expect(() => validate({ $ref: '#/components/schemas/Nope' }, {}, COMPONENTS)).toThrow(/not defined/);
  });

  it('checks additionalProperties schemas (stats tallies)', () => {
    expect(validate(COMPONENTS.Tallies!, { pods: { keys: 1, bytes: 2 } }, COMPONENTS)).toBeUndefined();
    expect(validate(COMPONENTS.Tallies!, { pods: { keys: -1, bytes: 2 } }, COMPONENTS)).toMatchObject({ field: 'pods.keys' });
  });

  it('oneOf needs exactly one match', () => {
    const s: Schema = { oneOf: [{ type: 'string' }, { type: 'integer' }] };
    expect(validate(s, 'x')).toBeUndefined();
    expect(validate(s, true)).toMatchObject({ message: 'matches none of the allowed forms' });
  });
});
