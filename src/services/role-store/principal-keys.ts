import { Type } from '@sinclair/typebox';
import { principalOf } from '../../plugins/authenticate.js';
import { errorResponses, IdResponse, ListResponse } from '../../schemas.js';
import { getPrincipalKey, listPrincipalKeys } from './principal-key-repository.js';
import { PrincipalKeyImportIn, PrincipalKeyOut, PrincipalKeyParams, RoleParams } from './schemas.js';
import { deletePrincipalKeyAs, generatePrincipalKeyAs, importPrincipalKeyAs, type RoleStoreDeps } from './use-cases.js';
import type { TypedApp } from '../typed-app.js';

/**
 * `/role-store/api/v1/roles/{id}/principalkeys`: the role's SSH key pairs. Only public halves are
 * ever returned; private halves are sealed under the installation key for the SSH gateway.
 */
export function registerPrincipalKeyRoutes(app: TypedApp, deps: RoleStoreDeps): void {
  const { db } = deps;

  app.get(
    '/roles/:id/principalkeys',
    {
      config: { permissions: ['roles-view', 'roles-manage'] },
      schema: { summary: "A role's principal keys (public halves)", tags: ['roles'], params: RoleParams, response: { 200: ListResponse(PrincipalKeyOut), ...errorResponses(400, 401, 403, 404) } },
    },
    async (request) => {
      const items = await listPrincipalKeys(db, request.params.id);
      return { count: items.length, items };
    },
  );

  app.post(
    '/roles/:id/principalkeys/generate',
    {
      config: { permissions: ['roles-manage'] },
      schema: {
        summary: 'Generate an RSA principal key for a role (needs every permission of the role)',
        tags: ['roles'],
        params: RoleParams,
        response: { 201: IdResponse, ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request, reply) => reply.code(201).send({ id: await generatePrincipalKeyAs(deps, principalOf(request), request.params.id) }),
  );

  const importOptions = {
    config: { permissions: ['roles-manage' as const] },
    schema: {
      summary: 'Import a principal key from its PEM private key (RSA of 2048 bits or more, or Ed25519; unencrypted)',
      tags: ['roles'],
      params: RoleParams,
      body: PrincipalKeyImportIn,
      response: { 201: IdResponse, ...errorResponses(400, 401, 403, 404) },
    },
  };
  // The SDKs post to /principalkeys/import; PrivX's API also takes the key on the collection.
  app.post('/roles/:id/principalkeys/import', importOptions, async (request, reply) => {
    const id = await importPrincipalKeyAs(deps, principalOf(request), request.params.id, request.body.private_key ?? request.body.primary_key ?? '');
    return reply.code(201).send({ id });
  });
  app.post('/roles/:id/principalkeys', importOptions, async (request, reply) => {
    const id = await importPrincipalKeyAs(deps, principalOf(request), request.params.id, request.body.private_key ?? request.body.primary_key ?? '');
    return reply.code(201).send({ id });
  });

  app.get(
    '/roles/:id/principalkeys/:keyId',
    {
      config: { permissions: ['roles-view', 'roles-manage'] },
      schema: { summary: 'A principal key of a role (public half)', tags: ['roles'], params: PrincipalKeyParams, response: { 200: PrincipalKeyOut, ...errorResponses(400, 401, 403, 404) } },
    },
    async (request) => getPrincipalKey(db, request.params.id, request.params.keyId),
  );

  app.delete(
    '/roles/:id/principalkeys/:keyId',
    {
      config: { permissions: ['roles-manage'] },
      schema: {
        summary: 'Delete a principal key of a role (needs every permission of the role)',
        tags: ['roles'],
        params: PrincipalKeyParams,
        response: { 200: Type.Object({}), ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request) => {
      await deletePrincipalKeyAs(deps, principalOf(request), request.params.id, request.params.keyId);
      return {};
    },
  );
}
