import type { FastifyBaseLogger } from 'fastify';
import pino from 'pino';

/** The logger every part of Registrar writes to: pino, as Fastify sees it. */
export type Logger = FastifyBaseLogger;

/** Fields that must never reach a log line, wherever they appear. */
const REDACT = ['req.headers.authorization', 'headers.authorization', 'client_secret', '*.client_secret'];

/** Structured JSON logs on stdout (or into `destination`, for tests). */
export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino({ level, redact: { paths: REDACT, censor: '[redacted]' } }, destination ?? process.stdout);
}
