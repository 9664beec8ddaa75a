import crypto from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Tables } from '../../db/schema.js';
import { PrivxError, invalid } from '../../errors.js';
import { compilePattern, PatternError, type CompiledPattern, type WhitelistType } from '../../lib/command-patterns.js';
import type { Clock } from '../../lib/time.js';
import type { Principal } from '../../access.js';
import { recordAuditEvent } from '../monitor-service/audit-log.js';
import {
  deleteWhitelistRow,
  getWhitelist,
  hostsReferencingWhitelist,
  insertWhitelist,
  listWhitelists,
  lockWhitelist,
  updateWhitelistRow,
  type WhitelistColumns,
  type WhitelistRow,
} from './whitelist-repository.js';
import type { WhitelistEvaluateIn, WhitelistEvaluateOut, WhitelistIn, WhitelistOut, WhitelistPaging } from './whitelist-schemas.js';

/** What the whitelist use cases need from the app. */
export interface WhitelistDeps {
  db: Kysely<Tables>;
  clock: Clock;
}

type Actor = Pick<Principal, 'type' | 'id' | 'name'>;

/**
 * The most matching work one evaluate request may ask for: NFA states of all patterns times the
 * characters of all commands. Real whitelists are far below it; it bounds what one request costs.
 */
export const MAX_EVALUATION_WORK = 10_000_000;

/** Most NFA states all patterns of one stored whitelist compile to: what enforcing it costs per command character. */
export const MAX_WHITELIST_STATES = 50_000;

/** A stored whitelist as the API answers it. */
export function whitelistObject(row: WhitelistRow): WhitelistOut {
  return {
    id: row.id,
    name: row.name,
    comment: row.comment,
    type: row.type,
    whitelist_patterns: JSON.parse(row.patterns) as string[],
    author: row.author,
    created: row.created,
    updated: row.updated,
    updated_by: row.updated_by,
  };
}

/** Whitelists, sorted and paged (PrivX's defaults: by name, 50 a page); `keywords` as for search. */
export async function listWhitelistsPage(deps: WhitelistDeps, query: WhitelistPaging, keywords?: string): Promise<{ count: number; items: WhitelistOut[] }> {
  const page = await listWhitelists(
    deps.db,
    { offset: query.offset ?? 0, limit: query.limit ?? 50, sortkey: query.sortkey ?? 'name', descending: query.sortdir?.toLowerCase() === 'desc' },
    keywords,
  );
  return { count: page.count, items: page.items.map(whitelistObject) };
}

export async function getWhitelistObject(deps: WhitelistDeps, id: string): Promise<WhitelistOut> {
  return whitelistObject(await getWhitelist(deps.db, id));
}

function typeOf(value: string | undefined): WhitelistType {
  return value === 'regex' ? 'regex' : 'glob';
}

/** Compiles every pattern; the first that does not compile is a 400 naming it. */
function compileAll(type: WhitelistType, patterns: readonly string[], property: string): CompiledPattern[] {
  return patterns.map((pattern, index) => {
    try {
      return compilePattern(type, pattern);
    } catch (error) {
      if (error instanceof PatternError) {
        throw invalid('VALUE_INCORRECT_FORMAT', `pattern ${index + 1} is not a valid ${type} pattern: ${error.message} (at character ${error.offset + 1})`, `${property}[${index}]`);
      }
      throw error;
    }
  });
}

/** The columns of a whitelist from a validated body; every pattern must compile for its type (400). */
function columnsOf(input: WhitelistIn): WhitelistColumns {
  const type = typeOf(input.type);
  const patterns = input.whitelist_patterns ?? [];
  const states = compileAll(type, patterns, 'whitelist_patterns').reduce((sum, pattern) => sum + pattern.size, 0);
  if (states > MAX_WHITELIST_STATES) throw invalid('VALUE_OUT_OF_BOUNDS', 'the patterns are too complex together: split them over several whitelists', 'whitelist_patterns');
  return { name: input.name, comment: input.comment ?? '', type, patterns };
}

/** What an audit event says about a whitelist. */
function auditView(columns: WhitelistColumns) {
  return { name: columns.name, comment: columns.comment, type: columns.type, whitelist_patterns: columns.patterns };
}

function columnsOfRow(row: WhitelistRow): WhitelistColumns {
  return { name: row.name, comment: row.comment, type: row.type, patterns: JSON.parse(row.patterns) as string[] };
}

/** Stores a new whitelist; audited (whitelist_created) in the same transaction. Returns its id. */
export async function createWhitelistAs(deps: WhitelistDeps, actor: Actor, input: WhitelistIn): Promise<string> {
  const columns = columnsOf(input);
  const id = crypto.randomUUID();
  const now = deps.clock.now();
  await deps.db.transaction().execute(async (trx) => {
    await insertWhitelist(trx, id, columns, actor.id, now);
    await recordAuditEvent(trx, { type: 'whitelist_created', outcome: 'success', principal: actor, objectType: 'whitelist', objectId: id, details: { after: auditView(columns) }, at: now });
  });
  return id;
}

/** Replaces a whitelist's fields (server fields sent back are ignored); audited (before → after). */
export async function updateWhitelistAs(deps: WhitelistDeps, actor: Actor, id: string, input: WhitelistIn): Promise<void> {
  const columns = columnsOf(input);
  const now = deps.clock.now();
  await deps.db.transaction().execute(async (trx) => {
    const before = await lockWhitelist(trx, id);
    await updateWhitelistRow(trx, id, columns, actor.id, now);
    await recordAuditEvent(trx, {
      type: 'whitelist_updated',
      outcome: 'success',
      principal: actor,
      objectType: 'whitelist',
      objectId: id,
      details: { before: auditView(columnsOfRow(before)), after: auditView(columns) },
      at: now,
    });
  });
}

/**
 * Deletes a whitelist; 409 CONFLICT while a host principal's command restrictions name it (as
 * default or role-based whitelist), naming the hosts. Audited.
 */
export async function deleteWhitelistAs(deps: WhitelistDeps, actor: Actor, id: string): Promise<void> {
  const now = deps.clock.now();
  await deps.db.transaction().execute(async (trx) => {
    const before = await lockWhitelist(trx, id);
    const hosts = await hostsReferencingWhitelist(trx, id);
    if (hosts.length > 0) {
      const shown = hosts.slice(0, 10).join(', ') + (hosts.length > 10 ? ', …' : '');
      throw new PrivxError(409, 'CONFLICT', `the whitelist is used by the command restrictions of ${hosts.length} host(s) (${shown}); remove it there first`, { property: 'id' });
    }
    await deleteWhitelistRow(trx, id);
    await recordAuditEvent(trx, { type: 'whitelist_deleted', outcome: 'success', principal: actor, objectType: 'whitelist', objectId: id, details: { before: auditView(columnsOfRow(before)) }, at: now });
  });
}

/**
 * Evaluates commands against a whitelist's patterns (the request's; when it sends none but names a
 * stored whitelist by `id`, that one's). Per pattern, one MATCH/NO_MATCH per command in order; per
 * command, whether any pattern allows it. A pattern that does not compile is a 400; so is a
 * request whose matching work would exceed {@link MAX_EVALUATION_WORK}. Reads only: not audited.
 */
export async function evaluateWhitelist(deps: WhitelistDeps, input: WhitelistEvaluateIn): Promise<WhitelistEvaluateOut> {
  let type = typeOf(input.whitelist.type ?? undefined);
  let patterns: string[] = input.whitelist.whitelist_patterns ?? [];
  const storedId = input.whitelist.id ?? '';
  if (patterns.length === 0 && storedId !== '') {
    const stored = await getWhitelist(deps.db, storedId);
    type = typeOf(stored.type);
    patterns = JSON.parse(stored.patterns) as string[];
  }
  const compiled = compileAll(type, patterns, 'whitelist.whitelist_patterns');
  const commands = input.commands ?? [];
  const states = compiled.reduce((sum, pattern) => sum + pattern.size, 0);
  const characters = commands.reduce((sum, command) => sum + command.length + 1, 0);
  if (states * characters > MAX_EVALUATION_WORK) {
    throw invalid('VALUE_OUT_OF_BOUNDS', 'too much to evaluate in one request: send fewer or shorter commands or patterns', 'commands');
  }
  const matches = compiled.map((pattern) => commands.map((command) => pattern.matches(command)));
  return {
    whitelist_pattern_results: compiled.map((pattern, index) => ({
      whitelist_pattern: pattern.source,
      status: matches[index]!.map((matched): 'MATCH' | 'NO_MATCH' => (matched ? 'MATCH' : 'NO_MATCH')),
    })),
    command_results: commands.map((command, commandIndex) => ({ command, allowed: matches.some((row) => row[commandIndex]!) })),
  };
}
