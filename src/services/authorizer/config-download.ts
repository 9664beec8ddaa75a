import type { FastifyReply } from 'fastify';
import { Type } from '@sinclair/typebox';
import { errorResponses, IdParam } from '../../schemas.js';
import type { Scope } from '../../access.js';
import type { ConfigDownload } from './use-cases.js';

/** Who may open config sessions and download configs (the grant rule then applies per client). */
export const CONF_SCOPES: readonly Scope[] = ['admin', 'api-clients-manage'];

export const ConfParams = Type.Object({ trusted_client_id: IdParam });
export const ConfSessionParams = Type.Object({ trusted_client_id: IdParam, session_id: IdParam });
export const SessionCreated = Type.Object({ session_id: Type.String() });

/** The schema of a `POST …/conf/{trusted_client_id}` route. */
export function sessionSchema(summary: string, tag: string) {
  return { summary, tags: [tag], params: ConfParams, response: { 201: SessionCreated, ...errorResponses(400, 401, 403, 404) } };
}

/** The schema of a `GET …/conf/{trusted_client_id}/{session_id}` route. */
export function downloadSchema(summary: string, tag: string) {
  return {
    summary,
    tags: [tag],
    params: ConfSessionParams,
    response: { 200: Type.String({ description: 'The config file (TOML); see docs/component-configs.md' }), ...errorResponses(400, 401, 403, 404) },
  };
}

/** Sends a config file as a download. */
export function sendConfig(reply: FastifyReply, config: ConfigDownload): FastifyReply {
  return reply.type('application/toml; charset=utf-8').header('content-disposition', `attachment; filename=${config.fileName}`).send(config.toml);
}
