import type { FastifyBaseLogger } from 'fastify';
import pino from 'pino';

/** The logger every part of Registrar writes to: pino, as Fastify sees it. */
export type Logger = FastifyBaseLogger;

/** Fields that must never reach a log line, wherever they appear. */
const REDACT = ['req.headers.authorization', 'headers.authorization', 'client_secret', '*.client_secret'];

/**
 * Log output buffered before a write: lines go out in writes of at least this many bytes
 * (or when the process is idle a moment), not one write per line.
 */
const LOG_WRITE_BYTES = 12 * 1024; // below sonic-boom's largest write, 16 KiB
/** Log output buffered at most while stdout is slower than the server; past it, lines are dropped and counted. */
const LOG_BUFFER_BYTES = 16 * 1024 * 1024;

let droppedLines = 0;

/** Log lines dropped because stdout could not keep up with {@link LOG_BUFFER_BYTES} buffered (for /metrics). */
export function droppedLogLines(): number {
  return droppedLines;
}

/**
 * Structured JSON logs on stdout (or into `destination`, for tests). Stdout is written
 * asynchronously through a bounded buffer, flushed when the process exits (a SIGKILL can
 * lose what is buffered: at most 12 KiB, or the lines of the last 250 ms).
 */
export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino({ level, redact: { paths: REDACT, censor: '[redacted]' } }, destination ?? stdoutDestination());
}

function stdoutDestination(): pino.DestinationStream {
  const stream = pino.destination({
    dest: 1,
    sync: false,
    minLength: LOG_WRITE_BYTES,
    maxLength: LOG_BUFFER_BYTES,
  });
  stream.on('drop', (data: string) => {
    droppedLines += data.split('\n').length - 1 || 1;
  });
  // What an idle server has buffered goes out within a moment, so `tail -f` stays current.
  let pending = false;
  const write = stream.write.bind(stream);
  stream.write = (data: string) => {
    pending = true;
    return write(data);
  };
  setInterval(() => {
    if (!pending) return;
    pending = false;
    try {
      stream.flush();
    } catch {
      // the stream was closed (the process is exiting)
    }
  }, 250).unref();
  return stream;
}
