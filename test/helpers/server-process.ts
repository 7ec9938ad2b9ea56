import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..', '..');
const STARTUP_TIMEOUT_MS = 20_000;

/** `src/server.ts` as a child process, with its output collected. */
export class ServerProcess {
  readonly child: ChildProcess;
  stdout = '';
  stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(env: Record<string, string | undefined>) {
    const childEnv: NodeJS.ProcessEnv = { ...process.env };
    for (const name of [
      'REGISTRAR_CONFIG',
      'REGISTRAR_SECRET_KEY',
      'REGISTRAR_STORAGE_URL',
      'REGISTRAR_CACHE_URL',
      'LOG_LEVEL',
      'NODE_TEST_CONTEXT',
      'NODE_OPTIONS',
    ]) {
      delete childEnv[name];
    }
    for (const [name, value] of Object.entries(env)) {
      if (value !== undefined) childEnv[name] = value;
    }
    this.child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
      cwd: ROOT,
      env: childEnv,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      this.stdout += chunk;
    });
    this.child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      this.stderr += chunk;
    });
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => resolve({ code, signal }));
    });
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** The JSON lines of stdout (lines that are not JSON are skipped). */
  logLines(): Array<Record<string, unknown>> {
    const lines: Array<Record<string, unknown>> = [];
    for (const line of this.stdout.split('\n')) {
      if (!line.trim()) continue;
      try {
        lines.push(JSON.parse(line));
      } catch {
        // not a log line
      }
    }
    return lines;
  }

  /** Resolves with the exit, or rejects after `ms`. */
  async waitForExit(ms: number) {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no exit within ${ms} ms; output:\n${this.output()}`)), ms);
    });
    try {
      return await Promise.race([this.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  output(): string {
    return `--- stdout ---\n${this.stdout}\n--- stderr ---\n${this.stderr}`;
  }

  /** Ends the process (only this child, by its handle) if it still runs. */
  async kill(): Promise<void> {
    if (!this.running) return;
    this.child.kill('SIGKILL');
    await this.exited;
  }
}

/** Polls `GET /healthz` until it answers 200, the process exits, or the timeout passes. */
export async function waitUntilHealthy(server: ServerProcess, base: string): Promise<void> {
  const deadline = Date.now() + STARTUP_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (!server.running) assert.fail(`the server exited during start-up:\n${server.output()}`);
    try {
      const res = await fetch(`${base}/healthz`, { signal: AbortSignal.timeout(1000) });
      if (res.status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.fail(`/healthz did not answer 200 within ${STARTUP_TIMEOUT_MS} ms:\n${server.output()}`);
}
