import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { describe, expect, expectTypeOf, it } from 'vitest';
import authService from '../../src/services/auth/index.js';
import authorizerService from '../../src/services/authorizer/index.js';
import hostStoreService from '../../src/services/host-store/index.js';
import localUserStoreService from '../../src/services/local-user-store/index.js';
import monitorService from '../../src/services/monitor-service/index.js';
import roleStoreService from '../../src/services/role-store/index.js';
import settingsService from '../../src/services/settings/index.js';
import type { TypedApp } from '../../src/services/typed-app.js';

/**
 * Routes take their request types from their TypeBox schemas. The type assertions here are
 * checked by `npm run typecheck` (tsconfig includes test/); the scan runs under vitest.
 */

const SERVICES = path.resolve(__dirname, '../../src/services');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? sourceFiles(path.join(dir, entry.name)) : entry.name.endsWith('.ts') ? [path.join(dir, entry.name)] : [],
  );
}

describe('typed routes', () => {
  it('every service is a TypeBox-typed plugin', () => {
    for (const service of [authService, authorizerService, hostStoreService, localUserStoreService, monitorService, roleStoreService, settingsService]) {
      expectTypeOf(service).toEqualTypeOf<FastifyPluginAsyncTypebox>();
      expect(typeof service).toBe('function');
    }
  });

  it('a route on a TypedApp reads params, query and body as its schema declares them', () => {
    const register = (app: TypedApp): void => {
      app.put(
        '/things/:id',
        {
          schema: {
            params: Type.Object({ id: Type.String() }),
            querystring: Type.Object({ limit: Type.Optional(Type.Integer()) }),
            body: Type.Object({ name: Type.String(), tags: Type.Array(Type.String()) }),
          },
        },
        async (request) => {
          expectTypeOf(request.params).toEqualTypeOf<{ id: string }>();
          expectTypeOf(request.query).toEqualTypeOf<{ limit?: number }>();
          expectTypeOf(request.body).toEqualTypeOf<{ name: string; tags: string[] }>();
          return {};
        },
      );
    };
    expect(typeof register).toBe('function');
  });

  it('no route file casts a request part (the schema types it)', () => {
    const casts = sourceFiles(SERVICES).flatMap((file) =>
      readFileSync(file, 'utf8')
        .split('\n')
        .flatMap((line, index) => (/request\.(body|params|query|headers)\s+as\s/.test(line) ? [`${path.relative(SERVICES, file)}:${index + 1}: ${line.trim()}`] : [])),
    );
    expect(casts).toEqual([]);
  });
});
