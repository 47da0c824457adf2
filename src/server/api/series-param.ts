import { seriesNamed } from '../../core/series.js';
import { ApiError } from './http.js';
import type { QueryParam } from './router.js';
import { STRATEGY_SCHEMA } from './schemas.js';

/** `?strategy=`: narrows `latest` to one series, as the CLI's `--strategy` does. */
export const STRATEGY_QUERY: QueryParam = {
  schema: STRATEGY_SCHEMA,
  description: 'only backups of this series: "latest" is the newest of it (as the CLI\'s --strategy)',
};

/** The series a request's `strategy` (query parameter or body field) names; 400 naming `field` when it names none. */
export function seriesParam(value: unknown, field = 'strategy'): string | undefined {
  if (value === undefined) return undefined;
  try {
    return seriesNamed(String(value));
  } catch (err) {
    throw new ApiError(400, 'bad_request', `field "${field}" ${(err as Error).message}`, field);
  }
}
