export { loadConfig, KNOWN_VARIABLES, SECRET_VARIABLES, type Env, type LoadResult } from './load-config.js';
export type * from './types.js';
