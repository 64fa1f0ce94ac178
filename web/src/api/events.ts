/**
 * Interactions reported to `POST /api/v1/events/` (docs/api.md; docs/web-client.md, "Interactions").
 *
 * Events are queued with a client id made here (the server's idempotency key, per user) and sent in
 * batches: every `flushMs` (5 s), at once for a dismissal, when a batch is full, and when the page
 * is hidden or left. A batch holds at most `batchSize` events (100, under the API's limit of 500).
 *
 * - **Never duplicated server-side.** A batch that failed (network error, 5xx, 429, a 401 the
 *   client could not refresh) is sent again later, after a jittered exponential backoff, with the
 *   same event ids; the server counts those it already has as `duplicates` and stores nothing
 *   twice. Events leave the queue only when a send is acknowledged (202).
 * - **Refused events are dropped, not retried.** The API takes a batch whole or not at all; a
 *   `400` names each bad field (`events[3].offer_id`), so those events are dropped (logged) and the
 *   rest sent again. A `413` halves the batch size.
 * - **Page hide.** `navigator.sendBeacon` cannot carry the `Authorization: Bearer` header the API
 *   needs, so the client uses `fetch` with `keepalive: true`, which outlives the page. Keep-alive
 *   bodies share a 64 KiB budget, so at most `KEEPALIVE_BYTES` go that way; the queue is also kept
 *   in `sessionStorage`, so what did not go out is sent (with the same ids) when the tab loads the
 *   client again.
 */
import { backoffDelay } from "./live";

export type EventKind = "impression" | "click" | "dismiss" | "convert";

/** One event as the API takes it. */
export interface InteractionEvent {
  id: string;
  kind: EventKind;
  section_id: string;
  occurred_at: string;
  component_id?: string;
  offer_id?: string;
  template_key?: string;
  template_version?: number;
}

/** What the screens report; the queue adds `id` and `occurred_at`. */
export type EventInput = Omit<InteractionEvent, "id" | "occurred_at">;

/** Where the queue is kept between page loads of the tab (cleared on logout: client.ts). */
export const EVENTS_KEY = "homeservice.events";
/** The API's limit is 500 events per request (INTERACTIONS_BATCH_LIMIT); batches stay well under. */
export const BATCH_SIZE = 100;
/** Budget of the keep-alive requests sent when the page is hidden (browsers allow 64 KiB in all). */
export const KEEPALIVE_BYTES = 60_000;
/** Events kept at most while the API cannot be reached (the oldest go first). */
export const MAX_QUEUED = 1000;

export interface EventQueueOptions {
  /** POST the JSON body to /api/v1/events/ (ApiClient.events). */
  send: (body: string, keepalive: boolean) => Promise<Response>;
  storage?: Pick<Storage, "getItem" | "setItem" | "removeItem"> | null;
  batchSize?: number;
  flushMs?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  random?: () => number;
  newId?: () => string;
  now?: () => Date;
}

function defaultId(): string {
  if (typeof crypto !== "undefined" && typeof crypto.randomUUID === "function") return `w-${crypto.randomUUID()}`;
  return `w-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 12)}`;
}

/** Indexes of the events a `400 invalid_events` names (`details` keys like `events[3].kind`). */
export function refusedIndexes(details: unknown): Set<number> {
  const found = new Set<number>();
  if (details && typeof details === "object") {
    for (const key of Object.keys(details)) {
      const match = /^events\[(\d+)\]/.exec(key);
      if (match) found.add(Number(match[1]));
    }
  }
  return found;
}

export class EventQueue {
  private queue: InteractionEvent[];
  private sending: Promise<void> | null = null;
  private attempt = 0;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private flushTimer: ReturnType<typeof setInterval> | undefined;
  private batchSize: number;
  private readonly o: Required<Omit<EventQueueOptions, "storage">> & Pick<EventQueueOptions, "storage">;

  constructor(options: EventQueueOptions) {
    this.o = {
      batchSize: BATCH_SIZE,
      flushMs: 5000,
      baseDelayMs: 1000,
      maxDelayMs: 60_000,
      random: Math.random,
      newId: defaultId,
      now: () => new Date(),
      ...options,
    };
    this.batchSize = this.o.batchSize;
    this.queue = this.load();
  }

  /** Events not acknowledged yet, oldest first. */
  pending(): readonly InteractionEvent[] {
    return this.queue;
  }

  /** Queue an event; `urgent` sends it now (a dismissal), else it goes with the next batch. */
  record(input: EventInput, { urgent = false }: { urgent?: boolean } = {}): InteractionEvent {
    const event: InteractionEvent = { id: this.o.newId(), occurred_at: this.o.now().toISOString(), ...input };
    for (const key of Object.keys(event) as (keyof InteractionEvent)[]) {
      if (event[key] === undefined || event[key] === "") delete event[key];
    }
    this.queue.push(event);
    if (this.queue.length > MAX_QUEUED) this.queue.splice(0, this.queue.length - MAX_QUEUED);
    this.save();
    if (urgent || this.queue.length >= this.batchSize) void this.flush();
    return event;
  }

  /** Flush on an interval and when the page is hidden or left. */
  start(): void {
    this.flushTimer = setInterval(() => void this.flush(), this.o.flushMs);
    document.addEventListener("visibilitychange", this.onVisibility);
    window.addEventListener("pagehide", this.onPageHide);
    if (this.queue.length) void this.flush(); // what an earlier page load left
  }

  /**
   * Stop the timers; what is still queued goes out with keep-alive requests. The queue is no
   * longer written to storage after this: the screen is gone (logout), and the next user of the
   * tab must not send this one's events.
   */
  stop(): void {
    clearInterval(this.flushTimer);
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    document.removeEventListener("visibilitychange", this.onVisibility);
    window.removeEventListener("pagehide", this.onPageHide);
    this.flushOnHide();
    this.o.storage = null;
  }

  private readonly onVisibility = () => {
    if (document.visibilityState === "hidden") this.flushOnHide();
  };

  private readonly onPageHide = () => this.flushOnHide();

  /**
   * Send what is queued until it is empty or a send fails (then retry after the backoff).
   * One send at a time; while a retry waits, only `flushOnHide` goes around it.
   */
  flush(): Promise<void> {
    if (this.sending) return this.sending;
    if (this.retryTimer !== undefined || !this.queue.length) return Promise.resolve();
    this.sending = this.drain().finally(() => {
      this.sending = null;
    });
    return this.sending;
  }

  private async drain(): Promise<void> {
    while (this.queue.length) {
      const batch = this.queue.slice(0, this.batchSize);
      let response: Response;
      try {
        response = await this.o.send(JSON.stringify({ events: batch }), false);
      } catch (error) {
        console.warn("[homeservice] events not sent, retrying", error);
        return this.retryLater();
      }
      if (response.ok) {
        this.acknowledge(batch);
        this.attempt = 0;
        continue;
      }
      if (response.status === 413 && this.batchSize > 1) {
        this.batchSize = Math.max(1, Math.floor(batch.length / 2));
        continue;
      }
      if (response.status === 400) {
        this.dropRefused(batch, await response.json().catch(() => null));
        continue;
      }
      return this.retryLater(); // 401 the client could not refresh, 429, 5xx, …
    }
  }

  /** A `400`: drop the events it names (all of the batch when it names none), keep the rest. */
  private dropRefused(batch: InteractionEvent[], body: { error?: { message?: string; details?: unknown } } | null): void {
    const bad = refusedIndexes(body?.error?.details);
    const dropped = bad.size ? batch.filter((_, index) => bad.has(index)) : batch;
    console.warn("[homeservice] events refused by the server, dropped:", body?.error?.message ?? "", dropped);
    this.acknowledge(dropped);
  }

  private acknowledge(events: InteractionEvent[]): void {
    const done = new Set(events.map((e) => e.id));
    this.queue = this.queue.filter((e) => !done.has(e.id));
    this.save();
  }

  private retryLater(): void {
    const delay = backoffDelay(this.attempt, this.o.random, this.o.baseDelayMs, this.o.maxDelayMs);
    this.attempt += 1;
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      void this.flush();
    }, delay);
  }

  /**
   * The page is going away (or hidden): send what is queued with `fetch(..., {keepalive: true})`
   * at once, whatever a retry waits for, within the keep-alive budget. Events leave the queue only
   * when acknowledged; an event also in a send still running is not stored twice (same id).
   */
  flushOnHide(): void {
    let budget = KEEPALIVE_BYTES;
    let start = 0;
    while (start < this.queue.length) {
      const batch = this.queue.slice(start, start + this.batchSize);
      let body = JSON.stringify({ events: batch });
      while (body.length > budget && batch.length > 1) {
        batch.splice(Math.ceil(batch.length / 2));
        body = JSON.stringify({ events: batch });
      }
      if (body.length > budget) return;
      budget -= body.length;
      start += batch.length;
      this.o.send(body, true).then(
        (response) => {
          if (response.ok) this.acknowledge(batch);
        },
        () => {
          /* kept in sessionStorage: sent again on the next load or flush */
        },
      );
    }
  }

  private load(): InteractionEvent[] {
    try {
      const raw = this.o.storage?.getItem(EVENTS_KEY);
      const parsed: unknown = raw ? JSON.parse(raw) : [];
      return Array.isArray(parsed) ? (parsed as InteractionEvent[]) : [];
    } catch {
      return [];
    }
  }

  private save(): void {
    try {
      if (this.queue.length) this.o.storage?.setItem(EVENTS_KEY, JSON.stringify(this.queue));
      else this.o.storage?.removeItem(EVENTS_KEY);
    } catch {
      /* storage full or unavailable: the queue lives in memory */
    }
  }
}
