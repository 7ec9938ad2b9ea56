import { connect, type Socket } from 'node:net';

/** One HTTP/1.1 response as read off the wire (header names lower-case). */
export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/**
 * A client connection written by hand (node:net), for what fetch cannot send: bad
 * percent-encoding, oversized or conflicting headers, upgrades, garbage. Responses are
 * read in order; `closed()` tells whether the server ended the connection.
 */
export class RawConnection {
  private buffer = Buffer.alloc(0);
  private ended = false;
  /** A socket error (ECONNRESET, ...), if one happened. */
  error: Error | undefined;
  private wake: () => void = () => {};

  private constructor(private readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      this.wake();
    });
    socket.on('error', (error) => {
      this.error = error;
      this.wake();
    });
    socket.on('close', () => {
      this.ended = true;
      this.wake();
    });
  }

  /** Connects to 127.0.0.1:`port`. */
  static open(port: number): Promise<RawConnection> {
    return new Promise((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => resolve(new RawConnection(socket)));
      socket.once('error', reject);
    });
  }

  /** Writes raw bytes (`\r\n` line ends are the caller's); a string is sent as UTF-8. */
  send(data: string | Uint8Array): void {
    this.socket.write(data);
  }

  /** Ends the client's side of the connection (a half-close: answers can still arrive). */
  end(): void {
    this.socket.end();
  }

  /** Waits for the next complete response (Content-Length or chunked), or fails after `timeoutMs`. */
  async response(timeoutMs = 5000): Promise<RawResponse> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const parsed = this.take();
      if (parsed) return parsed;
      if (this.ended) throw new Error(`connection closed before a full response: ${this.text()}`);
      if (Date.now() >= deadline) throw new Error(`no full response in ${timeoutMs} ms: ${this.text()}`);
      await this.until(deadline);
    }
  }

  /** True once the server has closed the connection; false if it is still open after `timeoutMs`. */
  async closed(timeoutMs = 3000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.ended && Date.now() < deadline) await this.until(deadline);
    return this.ended;
  }

  /** Closes the client side. */
  destroy(): void {
    this.socket.destroy();
  }

  private text(): string {
    return JSON.stringify(this.buffer.toString('latin1').slice(0, 500));
  }

  private until(deadline: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, Math.max(0, deadline - Date.now()));
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  /** Removes one complete response from the buffer, or returns undefined. */
  private take(): RawResponse | undefined {
    const headerEnd = this.buffer.indexOf('\r\n\r\n');
    if (headerEnd < 0) return undefined;
    const [statusLine = '', ...lines] = this.buffer.subarray(0, headerEnd).toString('latin1').split('\r\n');
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const colon = line.indexOf(':');
      headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    const status = Number(statusLine.split(' ')[1]);
    let rest = this.buffer.subarray(headerEnd + 4);
    let body: Buffer;
    if (headers['transfer-encoding'] === 'chunked') {
      const chunks: Buffer[] = [];
      for (;;) {
        const lineEnd = rest.indexOf('\r\n');
        if (lineEnd < 0) return undefined;
        const size = Number.parseInt(rest.subarray(0, lineEnd).toString('latin1'), 16);
        if (rest.length < lineEnd + 2 + size + 2) return undefined;
        chunks.push(rest.subarray(lineEnd + 2, lineEnd + 2 + size));
        rest = rest.subarray(lineEnd + 2 + size + 2);
        if (size === 0) break;
      }
      body = Buffer.concat(chunks);
    } else {
      const length = Number(headers['content-length'] ?? 0);
      if (rest.length < length) return undefined;
      body = rest.subarray(0, length);
      rest = rest.subarray(length);
    }
    this.buffer = rest;
    return { status, headers, body: body.toString('utf8') };
  }
}
