import { Type, type Static, type TOptional, type TString } from '@sinclair/typebox';
import { NullableArray, PagingQuery, SortKey } from '../../schemas.js';
import { USER_SORT_KEYS, USER_TEXT_FIELDS, type UserInput, type UserTextField } from './repository.js';
import { Name, Password, RoleRefOut, RoleRefs } from './schemas.js';

/** Printable text without control characters. */
const NO_CONTROL = '^[^\\u0000-\\u001f\\u007f]*$';

/** Bounds of the LocalUser texts; `comment` may span lines. */
const TEXT_LIMITS: Record<UserTextField, number> = {
  email: 320,
  full_name: 200,
  comment: 4000,
  display_name: 200,
  first_name: 200,
  last_name: 200,
  job_title: 200,
  company: 200,
  department: 200,
  telephone: 100,
  locale: 50,
  unix_account: 200,
  windows_account: 200,
};

const textProperties = Object.fromEntries(
  USER_TEXT_FIELDS.map((field) => [field, Type.Optional(Type.String(field === 'comment' ? { maxLength: TEXT_LIMITS[field] } : { maxLength: TEXT_LIMITS[field], pattern: NO_CONTROL }))]),
) as Record<UserTextField, TOptional<TString>>;

export const UserAttributeSchema = Type.Object(
  { key: Type.String({ minLength: 1, maxLength: 200, pattern: NO_CONTROL }), value: Type.String({ maxLength: 4000 }) },
  { additionalProperties: true },
);

const Tag = Type.String({ minLength: 1, maxLength: 200, pattern: '^[^\\u0000-\\u001f\\u007f]+$' });

/**
 * PrivX's LocalUser as clients send it (POST and PUT). The Go SDK sends its whole struct, so keys
 * beyond the declared ones are accepted and ignored, as are the server fields a client echoes
 * back from GET (id, created, updated, updated_by, author, builtin, `password.created`).
 */
export const UserBody = Type.Object(
  {
    username: Name,
    ...textProperties,
    tags: Type.Optional(NullableArray(Tag, { maxItems: 200 })),
    attributes: Type.Optional(NullableArray(UserAttributeSchema, { maxItems: 200 })),
    password_change_required: Type.Optional(Type.Boolean()),
    password: Type.Optional(
      Type.Union([
        // privgate before PrivX's shape took the password as a bare string; still accepted.
        Password,
        Type.Object(
          {
            password: Type.Optional(Type.Union([Type.Literal(''), Password], { description: 'Write-only; "" or left out = unchanged' })),
            created: Type.Optional(Type.String({ maxLength: 100, description: 'Read-only, ignored' })),
          },
          { additionalProperties: true },
        ),
        Type.Null(),
      ]),
    ),
    disabled: Type.Optional(Type.Boolean({ description: 'privgate extension; left out = unchanged' })),
    roles: Type.Optional(RoleRefs),
    id: Type.Optional(Type.String({ maxLength: 200, description: 'Read-only, ignored' })),
    created: Type.Optional(Type.String({ maxLength: 100, description: 'Read-only, ignored' })),
    updated: Type.Optional(Type.String({ maxLength: 100, description: 'Read-only, ignored' })),
    updated_by: Type.Optional(Type.String({ maxLength: 200, description: 'Read-only, ignored' })),
    author: Type.Optional(Type.String({ maxLength: 200, description: 'Read-only, ignored' })),
    builtin: Type.Optional(Type.Boolean({ description: 'Read-only, ignored' })),
  },
  { additionalProperties: true },
);
export type UserBodyType = Static<typeof UserBody>;

/** A user as GET answers it: the LocalUser fields, `password` only as when it was set, plus privgate's disabled/builtin/roles. */
export const UserOut = Type.Object({
  id: Type.String(),
  username: Type.String(),
  ...(Object.fromEntries(USER_TEXT_FIELDS.map((field) => [field, Type.String()])) as Record<UserTextField, TString>),
  tags: Type.Array(Type.String()),
  attributes: Type.Array(Type.Object({ key: Type.String(), value: Type.String() })),
  password: Type.Object({ created: Type.Optional(Type.String({ format: 'date-time' })) }, { description: 'The password itself is never returned' }),
  password_change_required: Type.Boolean(),
  disabled: Type.Boolean(),
  builtin: Type.Boolean(),
  roles: Type.Array(RoleRefOut),
  created: Type.String(),
  updated: Type.String(),
  updated_by: Type.String(),
  author: Type.String(),
});

/** `GET /users` query: paging plus the exact `id` and `username` filters the SDKs send. */
export const UserListQuery = Type.Object({
  ...PagingQuery,
  sortkey: SortKey(USER_SORT_KEYS),
  id: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
  username: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
});

/** The use cases' input from a request body: `null` arrays read as empty, read-only fields dropped. */
export function userInputOf(body: UserBodyType): UserInput & { password?: string } {
  const texts = Object.fromEntries(USER_TEXT_FIELDS.flatMap((field) => (body[field] === undefined ? [] : [[field, body[field]]]))) as Partial<Record<UserTextField, string>>;
  const password = typeof body.password === 'string' ? body.password : body.password?.password;
  return {
    username: body.username,
    ...texts,
    tags: body.tags ?? [],
    attributes: (body.attributes ?? []).map((attribute) => ({ key: attribute.key, value: attribute.value })),
    password_change_required: body.password_change_required ?? false,
    ...(body.disabled === undefined ? {} : { disabled: body.disabled }),
    ...(body.roles === undefined ? {} : { roles: body.roles }),
    ...(password ? { password } : {}),
  };
}
