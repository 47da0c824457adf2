export { handleApi, API_PATHS, API_PREFIX } from './handle-api.js';
export { createApiServices } from './create-services.js';
export { openApiDocument } from './openapi.js';
export { ROUTES } from './routes/index.js';
export type { ApiDeps, ApiServices, RestoreRequest, VerifyResult, BackupDiff } from './services.js';
