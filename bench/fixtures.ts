/** The API client the benchmark server is configured with and the load generator presents. */
export const BENCH_CLIENT = { client_id: 'bench-portal', client_secret: 'bench-portal-secret-0123456789' };
