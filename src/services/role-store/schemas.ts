import { Type } from '@sinclair/typebox';
import { IdParam, NullableArray } from '../../schemas.js';

export const RoleOut = Type.Object({
  id: Type.String(),
  name: Type.String(),
  comment: Type.String(),
  permissions: Type.Array(Type.String()),
  system: Type.Boolean(),
  created: Type.String(),
  updated: Type.String(),
  author: Type.String(),
});

export const RoleIn = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 200, pattern: '^[^\\u0000-\\u001f\\u007f]+$' }),
    comment: Type.Optional(Type.String({ maxLength: 2000 })),
    permissions: NullableArray(Type.String({ maxLength: 100 }), { maxItems: 200 }),
  },
  { additionalProperties: true },
);

export const MemberOut = Type.Object({ id: Type.String(), type: Type.String(), name: Type.String() });
export const MemberTypeSchema = Type.Union([Type.Literal('user'), Type.Literal('api-client')]);
export const RoleParams = Type.Object({ id: IdParam });
