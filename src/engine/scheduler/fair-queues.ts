import type { Job } from './job.js';

/**
 * One IdP (or one IdP's dry runs) as the scheduler sees it: its queue of executions
 * waiting for a sandbox process, and what it holds now.
 */
export class Tenant {
  private jobs: Job[] = [];
  private head = 0;
  /** Capacity units held: processes running a synchronous execution of its, plus its running asynchronous executions. */
  held = 0;
  /** Its executions in sandbox processes, running or waiting on outbound calls. */
  inFlight = 0;
  /** In the round-robin ring of tenants with queued executions. */
  queued = false;

  constructor(readonly id: string) {}

  get length(): number {
    return this.jobs.length - this.head;
  }

  peek(): Job | undefined {
    return this.jobs[this.head];
  }

  push(job: Job): void {
    this.jobs.push(job);
  }

  /** Puts a job back at the front (it was sent to a process that died before starting it). */
  unshift(job: Job): void {
    if (this.head > 0) this.jobs[--this.head] = job;
    else this.jobs.unshift(job);
  }

  shift(): Job | undefined {
    const job = this.jobs[this.head];
    if (job === undefined) return undefined;
    this.jobs[this.head++] = undefined as unknown as Job;
    if (this.head > 1024 && this.head * 2 > this.jobs.length) {
      this.jobs = this.jobs.slice(this.head);
      this.head = 0;
    }
    return job;
  }

  /** Removes a job wherever it waits; false when it is not queued here. */
  remove(job: Job): boolean {
    const at = this.jobs.indexOf(job, this.head);
    if (at === -1) return false;
    this.jobs.splice(at, 1);
    return true;
  }

  drain(): Job[] {
    const out = this.jobs.slice(this.head);
    this.jobs = [];
    this.head = 0;
    return out;
  }
}

/**
 * Per-tenant FIFO queues served round-robin: each pass over the ring offers every tenant
 * with queued work one placement, so a burst from one IdP never pushes another's
 * executions back, and a tenant at its cap is skipped without blocking the rest.
 */
export class FairQueues {
  private readonly tenants = new Map<string, Tenant>();
  private ring: Tenant[] = [];
  private cursor = 0;

  tenant(id: string): Tenant {
    let tenant = this.tenants.get(id);
    if (!tenant) {
      tenant = new Tenant(id);
      this.tenants.set(id, tenant);
    }
    return tenant;
  }

  enqueue(job: Job, front = false): void {
    const { tenant } = job;
    if (front) tenant.unshift(job);
    else tenant.push(job);
    if (!tenant.queued) {
      tenant.queued = true;
      this.ring.push(tenant);
    }
  }

  /** Every tenant, for the metrics. */
  all(): IterableIterator<Tenant> {
    return this.tenants.values();
  }

  /** True when the head of some tenant's queue satisfies `test`. */
  someHead(test: (job: Job) => boolean): boolean {
    for (const tenant of this.ring) {
      const job = tenant.peek();
      if (job && test(job)) return true;
    }
    return false;
  }

  get waiting(): number {
    let n = 0;
    for (const tenant of this.ring) n += tenant.length;
    return n;
  }

  /**
   * Offers queued jobs round-robin to `place`, which sends one to a process and returns
   * true, or returns false when that tenant's head job cannot go anywhere now. Stops
   * when a whole pass places nothing.
   */
  serve(place: (job: Job) => boolean): void {
    let sincePlaced = 0;
    while (this.ring.length > 0 && sincePlaced < this.ring.length) {
      if (this.cursor >= this.ring.length) this.cursor = 0;
      const tenant = this.ring[this.cursor] as Tenant;
      const job = tenant.peek();
      if (job === undefined) {
        tenant.queued = false;
        this.ring.splice(this.cursor, 1);
        continue;
      }
      if (place(job)) {
        tenant.shift();
        sincePlaced = 0;
      } else {
        sincePlaced++;
      }
      this.cursor++;
    }
  }

  /** Takes every queued job out (shutdown). */
  drain(): Job[] {
    const jobs = this.ring.flatMap((tenant) => {
      tenant.queued = false;
      return tenant.drain();
    });
    this.ring = [];
    return jobs;
  }
}
