/** The API client the benchmark server is configured with and the load generator presents. */
export const BENCH_CLIENT = { client_id: 'bench-portal', client_secret: 'bench-portal-secret-0123456789' };

/** The application that completes registrations in the benchmark. */
export const BENCH_APP = { client_id: 'bench-app', client_secret: 'bench-app-secret-0123456789' };

/** Basic credentials for a client. */
export const basicAuth = (c: { client_id: string; client_secret: string }) =>
  `Basic ${Buffer.from(`${c.client_id}:${c.client_secret}`).toString('base64')}`;
