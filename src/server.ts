/**
 * Starts Registrar (`npm start`, `node dist/server.js`): the same as `registrar serve`.
 * The work is in `src/cli/serve.ts`.
 */
import { serve } from './cli/serve.js';

await serve();
