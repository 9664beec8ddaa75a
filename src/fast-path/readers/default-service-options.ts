import type { Kysely } from 'kysely';
import type { Tables } from '../../db/schema.js';
import type { ServiceOptions } from '../../lib/service-options.js';
import { readDefaultServiceOptions, readDefaultServiceOptionsNow } from '../../services/host-store/repository.js';
import { formatEtag } from '../../services/settings/repository.js';
import type { HotAnswer, HotReadable } from '../hot-reads.js';

/**
 * `GET /host-store/api/v1/settings/default_service_options`, polled by every service and data-plane
 * daemon: its answer, now where SQLite's read connection allows (see readSectionNow), else awaited.
 *
 * The answer is serialized once per state: the current value is still asked of the database on
 * every request, only its serialization is reused. A stored value is parsed into a new object
 * whenever its text changes, and a PUT of the same value bumps the version, so a changed setting
 * always misses. The value is complete and shaped by the section's defaults (see readSection), so
 * plain JSON is the documented shape. Kept as a string: Node sends a string body in one write with
 * the head.
 */
export function defaultServiceOptionsAnswers(db: Kysely<Tables>): HotReadable {
  let last: { options: ServiceOptions; version: number; answer: HotAnswer } | undefined;
  const answerFor = ({ options, version }: { options: ServiceOptions; version: number }): HotAnswer => {
    if (last?.options !== options || last.version !== version) {
      last = { options, version, answer: { body: JSON.stringify(options), etag: formatEtag(String(version)) } };
    }
    return last.answer;
  };
  return {
    now: () => {
      const now = readDefaultServiceOptionsNow(db);
      return now && answerFor(now);
    },
    read: async () => answerFor(await readDefaultServiceOptions(db)),
  };
}
