/** The interaction queue: batches, retries with backoff and the same ids, refusals, page hide (api/events.ts). */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

import { EVENTS_KEY, EventQueue, type InteractionEvent, KEEPALIVE_BYTES, refusedIndexes } from "./events";

function json(body: unknown, status: number) {
  return new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
}

interface Sent {
  ids: string[];
  keepalive: boolean;
  body: string;
}

/** A fake POST /api/v1/events/ that stores events by id, like the server (duplicates ignored). */
function fakeServer() {
  const stored = new Map<string, InteractionEvent>();
  const sent: Sent[] = [];
  let answers: (() => Response | Promise<Response>)[] = [];
  const send = vi.fn(async (body: string, keepalive: boolean) => {
    const events = (JSON.parse(body) as { events: InteractionEvent[] }).events;
    sent.push({ ids: events.map((e) => e.id), keepalive, body });
    const next = answers.shift();
    if (next) return next();
    let duplicates = 0;
    for (const event of events) {
      if (stored.has(event.id)) duplicates += 1;
      else stored.set(event.id, event);
    }
    return json({ accepted: events.length - duplicates, duplicates, dismissed: [] }, 202);
  });
  return {
    stored,
    sent,
    send,
    /** The next sends answer these (then the server stores again). */
    answer: (...next: (() => Response | Promise<Response>)[]) => (answers = next),
  };
}

let counter = 0;
const newId = () => `e${++counter}`;
const impression = (section = "product-mobile") => ({ kind: "impression" as const, section_id: section });

beforeEach(() => {
  counter = 0;
  vi.useFakeTimers();
  vi.spyOn(console, "warn").mockImplementation(() => {});
});
afterEach(() => vi.useRealTimers());

describe("the interaction queue", () => {
  it("sends the events of an interval in one batch, with ids, times and the fields given", async () => {
    const server = fakeServer();
    const queue = new EventQueue({ send: server.send, newId, now: () => new Date("2026-11-23T12:00:00Z"), flushMs: 5000 });
    queue.start();
    queue.record(impression());
    queue.record({ kind: "click", section_id: "product-mobile", component_id: "b", offer_id: "o1", template_key: undefined });
    expect(server.send).not.toHaveBeenCalled();

    await vi.advanceTimersByTimeAsync(5000);

    expect(server.sent).toHaveLength(1);
    expect(JSON.parse(server.sent[0].body)).toEqual({
      events: [
        { id: "e1", kind: "impression", section_id: "product-mobile", occurred_at: "2026-11-23T12:00:00.000Z" },
        { id: "e2", kind: "click", section_id: "product-mobile", component_id: "b", offer_id: "o1", occurred_at: "2026-11-23T12:00:00.000Z" },
      ],
    });
    expect(queue.pending()).toEqual([]);
    queue.stop();
  });

  it("sends an urgent event (a dismissal) at once", async () => {
    const server = fakeServer();
    const queue = new EventQueue({ send: server.send, newId });
    queue.record({ kind: "dismiss", section_id: "product-mobile", offer_id: "o1" }, { urgent: true });
    await vi.advanceTimersByTimeAsync(0);
    expect(server.stored.get("e1")).toMatchObject({ kind: "dismiss", offer_id: "o1" });
  });

  it("splits what is queued into batches of at most batchSize", async () => {
    const server = fakeServer();
    const queue = new EventQueue({ send: server.send, newId, batchSize: 3 });
    queue.start();
    for (let i = 0; i < 7; i++) queue.record(impression());
    await vi.advanceTimersByTimeAsync(5000);
    expect(server.sent.map((s) => s.ids.length)).toEqual([3, 3, 1]);
    expect(server.stored.size).toBe(7);
    queue.stop();
  });

  it("retries a failed batch after a growing, jittered delay, with the same ids, and stores each event once", async () => {
    const server = fakeServer();
    server.answer(
      () => Promise.reject(new TypeError("Failed to fetch")),
      () => json({ error: { code: "unavailable", message: "down" } }, 503),
      // The server stored the batch but the answer was lost: the resend is counted as duplicates.
      () => {
        server.stored.set("e1", { id: "e1" } as InteractionEvent);
        throw new TypeError("connection reset");
      },
    );
    const queue = new EventQueue({ send: server.send, newId, baseDelayMs: 1000, random: () => 1 });
    queue.record(impression());
    queue.record(impression("product-tv"));

    void queue.flush();
    await vi.advanceTimersByTimeAsync(0);
    expect(server.sent).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(999);
    expect(server.sent).toHaveLength(1); // 1 s after the first failure, not before
    await vi.advanceTimersByTimeAsync(1);
    expect(server.sent).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1999);
    expect(server.sent).toHaveLength(2); // then 2 s
    await vi.advanceTimersByTimeAsync(1);
    expect(server.sent).toHaveLength(3);
    await vi.advanceTimersByTimeAsync(4000); // then 4 s, and it goes through
    expect(server.sent).toHaveLength(4);

    expect(server.sent.map((s) => s.ids)).toEqual([["e1", "e2"], ["e1", "e2"], ["e1", "e2"], ["e1", "e2"]]);
    expect([...server.stored.keys()].sort()).toEqual(["e1", "e2"]);
    expect(queue.pending()).toEqual([]);
  });

  it("does not send around a waiting retry on the interval, and resets the backoff after a success", async () => {
    const server = fakeServer();
    server.answer(() => json({}, 500));
    const queue = new EventQueue({ send: server.send, newId, baseDelayMs: 10_000, flushMs: 1000, random: () => 1 });
    queue.start();
    queue.record(impression());
    await vi.advanceTimersByTimeAsync(1000); // first try, fails
    await vi.advanceTimersByTimeAsync(5000); // five interval ticks while the retry waits
    expect(server.sent).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(5000);
    expect(server.sent).toHaveLength(2);
    queue.record(impression("product-tv"));
    await vi.advanceTimersByTimeAsync(1000);
    expect(server.sent).toHaveLength(3);
    queue.stop();
  });

  it("a 400 drops the events it names and sends the rest again (same ids); a 400 naming none drops the batch", async () => {
    const server = fakeServer();
    server.answer(() =>
      json(
        {
          error: {
            code: "invalid_events",
            message: "events[1].section_id: never shown",
            details: { "events[1].section_id": ["never shown"] },
          },
        },
        400,
      ),
    );
    const queue = new EventQueue({ send: server.send, newId });
    queue.record(impression());
    queue.record(impression("product-gone"));
    queue.record(impression("product-tv"));
    await queue.flush();
    expect(server.sent.map((s) => s.ids)).toEqual([["e1", "e2", "e3"], ["e1", "e3"]]);
    expect([...server.stored.keys()]).toEqual(["e1", "e3"]);

    server.answer(() => json({ error: { code: "invalid", message: "?" } }, 400));
    queue.record(impression());
    await queue.flush();
    expect(queue.pending()).toEqual([]);
    expect(server.stored.has("e4")).toBe(false);
  });

  it("a 413 halves the batch", async () => {
    const server = fakeServer();
    server.answer(() => json({ error: { code: "batch_too_large", message: "too many" } }, 413));
    const queue = new EventQueue({ send: server.send, newId, batchSize: 4 });
    for (let i = 0; i < 4; i++) queue.record(impression());
    await queue.flush();
    expect(server.sent.map((s) => s.ids.length)).toEqual([4, 2, 2]);
    expect(server.stored.size).toBe(4);
  });

  it("when the page is hidden, sends what is queued with keepalive at once, within the keep-alive budget", async () => {
    const server = fakeServer();
    const queue = new EventQueue({ send: server.send, newId, batchSize: 1000 });
    queue.start();
    const big = "x".repeat(80);
    for (let i = 0; i < 600; i++) queue.record({ kind: "click", section_id: "product-mobile", component_id: big });

    Object.defineProperty(document, "visibilityState", { value: "hidden", configurable: true });
    document.dispatchEvent(new Event("visibilitychange"));
    Object.defineProperty(document, "visibilityState", { value: "visible", configurable: true });

    expect(server.sent.length).toBeGreaterThan(0);
    expect(server.sent.every((s) => s.keepalive)).toBe(true);
    expect(server.sent.reduce((total, s) => total + s.body.length, 0)).toBeLessThanOrEqual(KEEPALIVE_BYTES);
    await vi.advanceTimersByTimeAsync(0);
    // Those acknowledged left the queue; the rest wait for the next flush.
    const sentIds = new Set(server.sent.flatMap((s) => s.ids));
    expect(queue.pending().length).toBe(600 - sentIds.size);
    expect(queue.pending().some((e) => sentIds.has(e.id))).toBe(false);
    expect(queue.pending().length).toBeGreaterThan(0);
    queue.stop();
  });

  it("pagehide sends with keepalive too, even while a retry waits", async () => {
    const server = fakeServer();
    server.answer(() => json({}, 503));
    const queue = new EventQueue({ send: server.send, newId, baseDelayMs: 60_000, random: () => 1 });
    queue.start();
    queue.record(impression(), { urgent: true });
    await vi.advanceTimersByTimeAsync(0);
    expect(server.sent).toHaveLength(1);

    window.dispatchEvent(new Event("pagehide"));

    expect(server.sent[1]).toMatchObject({ ids: ["e1"], keepalive: true });
    await vi.advanceTimersByTimeAsync(0);
    expect(queue.pending()).toEqual([]);
    queue.stop();
  });

  it("keeps the queue in storage, so the next page load sends the same events with the same ids", async () => {
    const server = fakeServer();
    server.answer(() => Promise.reject(new TypeError("offline")));
    const first = new EventQueue({ send: server.send, newId, storage: sessionStorage });
    first.record(impression(), { urgent: true });
    await vi.advanceTimersByTimeAsync(0);
    expect(JSON.parse(sessionStorage.getItem(EVENTS_KEY) ?? "[]")).toHaveLength(1);

    // The page is reloaded: a new queue finds the event and sends it on start.
    const second = new EventQueue({ send: server.send, newId: () => "other", storage: sessionStorage });
    second.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(server.sent.at(-1)?.ids).toEqual(["e1"]);
    expect(server.stored.has("e1")).toBe(true);
    expect(sessionStorage.getItem(EVENTS_KEY)).toBeNull();
    second.stop();
  });

  it("after stop (logout) the queue is sent with keepalive and no longer written to storage", async () => {
    const server = fakeServer();
    server.answer(() => json({}, 503));
    const queue = new EventQueue({ send: server.send, newId, storage: sessionStorage, baseDelayMs: 60_000 });
    queue.start();
    queue.record(impression(), { urgent: true });
    await vi.advanceTimersByTimeAsync(0);
    sessionStorage.clear(); // what logout does

    queue.stop();
    await vi.advanceTimersByTimeAsync(0);

    expect(server.sent.at(-1)).toMatchObject({ ids: ["e1"], keepalive: true });
    expect(sessionStorage.getItem(EVENTS_KEY)).toBeNull();
  });

  it("reads the indexes of refused events from a 400's details", () => {
    expect([...refusedIndexes({ "events[3].kind": ["x"], "events[10].offer_id": ["y"], events: ["z"] })].sort()).toEqual([10, 3]);
    expect(refusedIndexes(null).size).toBe(0);
  });
});
