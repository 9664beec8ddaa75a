import type { FastifyReply } from 'fastify';
import { Type } from '@sinclair/typebox';
import { errorResponses, IdParam } from '../../schemas.js';
import type { Scope } from '../../access.js';
import { accessGroupCaObject } from './access-group-ca.js';
import { CaListQuery, CaOutSchema } from './access-group-schemas.js';
import { accessGroupCa, accessGroupCaCrl, listAccessGroupCasFor } from './access-group-use-cases.js';
import type { TypedApp } from '../typed-app.js';

/** CA certificates and public keys are public material: hosts and tools fetch them to trust the groups' CAs. */
const CA_READ_SCOPES: readonly Scope[] = ['admin', 'certificates-view', 'access-groups-manage', 'hosts-view', 'hosts-manage', 'service'];

/** `/cas`: the authorizer's CAs — one or more per access group (a bare array, as PrivX answers it). */
export function registerAuthorizerCaRoutes(app: TypedApp): void {
  const { context } = app;
  const { database, clock } = context;
  const db = database.db;

  app.get(
    '/cas',
    {
      config: { permissions: CA_READ_SCOPES },
      schema: {
        summary: 'The access groups’ CAs (a bare array)',
        description: '`access_group_id`: only that group’s. `filter`: `valid` (default) leaves out expired CAs; `include_invalid` and `all` list every CA (removed ones are gone).',
        tags: ['access-groups'],
        querystring: CaListQuery,
        response: { 200: Type.Array(CaOutSchema), ...errorResponses(400, 401, 403) },
      },
    },
    async (request) => {
      const { access_group_id: accessGroupId, filter } = request.query;
      const rows = await listAccessGroupCasFor(db, accessGroupId === '' ? undefined : accessGroupId, filter ?? 'valid', clock.now());
      return rows.map(accessGroupCaObject);
    },
  );

  app.get(
    '/cas/:id',
    {
      config: { permissions: CA_READ_SCOPES },
      schema: {
        summary: 'Download one CA’s certificate (PEM)',
        tags: ['access-groups'],
        params: Type.Object({ id: IdParam }),
        response: { 200: Type.String({ description: 'The CA certificate, PEM' }), ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request, reply) => {
      const ca = await accessGroupCa(db, request.params.id);
      return reply.type('application/x-pem-file').header('content-disposition', `attachment; filename=privgate-ca-${ca.id}.crt`).send(ca.certificate_pem);
    },
  );

  app.get(
    '/cas/:id/crl',
    {
      config: { permissions: CA_READ_SCOPES },
      schema: {
        summary: 'One CA’s certificate revocation list: DER (application/pkix-crl), or PEM with ?format=pem',
        tags: ['access-groups'],
        params: Type.Object({ id: IdParam }),
        querystring: Type.Object({ format: Type.Optional(Type.Union([Type.Literal('der'), Type.Literal('pem')])) }),
        response: { 200: Type.String({ description: 'CRL, DER or PEM' }), ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request, reply) => {
      const crl = await accessGroupCaCrl(context, request.params.id);
      if (request.query.format === 'pem') return reply.type('application/x-pem-file').send(crl.pem);
      // DER bytes, sent as they are (the schema's string documents the body, it does not serialise it).
      const plain: FastifyReply = reply;
      return plain.type('application/pkix-crl').header('content-disposition', `attachment; filename=privgate-ca-${request.params.id}.crl`).send(crl.der);
    },
  );
}
