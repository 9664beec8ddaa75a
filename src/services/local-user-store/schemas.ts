import { Type } from '@sinclair/typebox';
import { NullableArray } from '../../schemas.js';

/** `{id, name}` reference to a role; clients send both, only the id counts. */
export const RoleRefSchema = Type.Object({ id: Type.String({ minLength: 1, maxLength: 100 }), name: Type.Optional(Type.String({ maxLength: 200 })) }, { additionalProperties: true });
export const RoleRefOut = Type.Object({ id: Type.String(), name: Type.String() });
export const RoleRefs = NullableArray(RoleRefSchema, { maxItems: 200 });

/** A name a person types: printable, no control characters, bounded. */
export const Name = Type.String({ minLength: 1, maxLength: 200, pattern: '^[^\\u0000-\\u001f\\u007f]+$' });
export const Password = Type.String({ minLength: 8, maxLength: 1024 });
