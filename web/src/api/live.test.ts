import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

import type { Feed, FeedSection } from "@/sdui/types";

import { applyUpdate, resumeMessage } from "./feed";
import { backoffDelay, LiveFeed, type LiveState } from "./live";

const section = (id: string, version: string): FeedSection => ({
  id,
  product: id,
  source: "generic",
  stale: false,
  as_of: null,
  version,
  component: { type: "section", props: { title: id } },
});
const feed = (version: string, sections: FeedSection[]): Feed => ({ schema_version: 1, version, generated_at: "", sections });

class FakeSocket {
  static all: FakeSocket[] = [];
  readyState = 0;
  sent: unknown[] = [];
  onopen: (() => void) | null = null;
  onmessage: ((event: { data: string }) => void) | null = null;
  onclose: ((event: { code: number }) => void) | null = null;
  constructor(readonly url: string) {
    FakeSocket.all.push(this);
  }
  send(data: string) {
    this.sent.push(JSON.parse(data));
  }
  close(code = 1000) {
    this.readyState = 3;
    this.onclose?.({ code });
  }
  open() {
    this.readyState = 1;
    this.onopen?.();
  }
  receive(message: unknown) {
    this.onmessage?.({ data: JSON.stringify(message) });
  }
}

describe("applying live messages", () => {
  it("feed.updated replaces, adds, removes and orders sections", () => {
    const held = feed("v1", [section("mobile", "m1"), section("tv", "t1"), section("energy", "e1")]);
    const next = applyUpdate(held, {
      type: "feed.updated",
      version: "v2",
      sections: [section("tv", "t2"), section("broadband", "b1")],
      removed: ["energy"],
      order: ["broadband", "tv", "mobile"],
    });
    expect(next.version).toBe("v2");
    expect(next.sections.map((s) => `${s.id}:${s.version}`)).toEqual(["broadband:b1", "tv:t2", "mobile:m1"]);
  });

  it("resume carries the version and the sections held", () => {
    expect(resumeMessage(feed("v1", [section("mobile", "m1")]))).toEqual({
      type: "resume",
      version: "v1",
      sections: [{ id: "mobile", version: "m1" }],
    });
  });

  it("backoff has full jitter under a growing, capped ceiling", () => {
    expect(backoffDelay(0, () => 0.999, 500, 8000)).toBe(499);
    expect(backoffDelay(3, () => 0.5, 500, 8000)).toBe(2000);
    expect(backoffDelay(10, () => 0.999, 500, 8000)).toBe(7992);
    expect(backoffDelay(2, () => 0, 500, 8000)).toBe(100);
  });
});

describe("LiveFeed", () => {
  let held: Feed | null;
  let states: LiveState[];
  const api = { ticket: vi.fn(async () => "t-1"), feed: vi.fn(async (): Promise<Feed | null> => null) };

  function start(extra: Partial<ConstructorParameters<typeof LiveFeed>[0]> = {}) {
    const live = new LiveFeed({
      api,
      current: () => held,
      onFeed: (f) => {
        held = f;
      },
      onState: (s) => states.push(s),
      createSocket: (url) => new FakeSocket(url) as unknown as WebSocket,
      random: () => 0.5,
      location: { protocol: "http:", host: "example.test" },
      ...extra,
    });
    live.start();
    return live;
  }

  beforeEach(() => {
    vi.useFakeTimers();
    FakeSocket.all = [];
    held = null;
    states = [];
    api.ticket.mockClear();
    api.feed.mockClear();
  });
  afterEach(() => vi.useRealTimers());

  it("connects with a ticket and the catalogue version, and takes the snapshot", async () => {
    const live = start();
    await vi.runOnlyPendingTimersAsync();
    const socket = FakeSocket.all[0];
    expect(socket.url).toBe("ws://example.test/ws/home/?ticket=t-1&sdui=2");
    socket.open();
    expect(states.at(-1)).toBe("live");
    socket.receive({ type: "feed.snapshot", version: "v1", feed: feed("v1", [section("mobile", "m1")]) });
    expect(held?.version).toBe("v1");
    socket.receive({ type: "feed.updated", version: "v2", sections: [section("mobile", "m2")], removed: [], order: ["mobile"] });
    expect(held?.sections[0].version).toBe("m2");
    live.stop();
  });

  it("after a drop: reconnects with backoff, ?resume=1 and a resume of what it holds", async () => {
    held = feed("v1", [section("mobile", "m1")]);
    const live = start();
    await vi.advanceTimersByTimeAsync(0);
    FakeSocket.all[0].open();
    FakeSocket.all[0].close(1012);
    expect(states.at(-1)).toBe("reconnecting");
    expect(FakeSocket.all).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(250); // random 0.5 × 500 ms
    expect(FakeSocket.all).toHaveLength(2);
    const again = FakeSocket.all[1];
    expect(again.url).toContain("resume=1");
    again.open();
    expect(again.sent).toEqual([{ type: "resume", version: "v1", sections: [{ id: "mobile", version: "m1" }] }]);
    expect(states.at(-1)).toBe("live");
    live.stop();
  });

  it("polls with If-None-Match while the socket cannot be opened, and stops once it is back", async () => {
    held = feed("v1", []);
    api.ticket.mockRejectedValueOnce(new TypeError("fetch failed")).mockRejectedValueOnce(new TypeError("fetch failed"));
    api.feed.mockResolvedValueOnce(feed("v2", [section("tv", "t1")]));
    const live = start({ pollMs: 1000 });
    await vi.advanceTimersByTimeAsync(0);
    await vi.advanceTimersByTimeAsync(300);
    expect(states).toContain("polling");
    expect(api.feed).toHaveBeenCalledWith("v1");
    expect(held?.version).toBe("v2");
    await vi.advanceTimersByTimeAsync(600);
    const socket = FakeSocket.all.at(-1)!;
    socket.open();
    const polls = api.feed.mock.calls.length;
    await vi.advanceTimersByTimeAsync(5000);
    expect(api.feed.mock.calls.length).toBe(polls);
    live.stop();
  });

  it("without WebSocket support it only polls", async () => {
    const live = start({ createSocket: null, pollMs: 1000 });
    await vi.advanceTimersByTimeAsync(2500);
    expect(states).toEqual(["polling"]);
    expect(api.feed).toHaveBeenCalledTimes(3);
    expect(api.ticket).not.toHaveBeenCalled();
    live.stop();
  });

  it("pings, and reconnects when no pong comes", async () => {
    const live = start({ pingMs: 1000, pongTimeoutMs: 500 });
    await vi.advanceTimersByTimeAsync(0);
    const socket = FakeSocket.all[0];
    socket.open();
    await vi.advanceTimersByTimeAsync(1000);
    expect(socket.sent).toEqual([{ type: "ping" }]);
    socket.receive({ type: "pong" });
    await vi.advanceTimersByTimeAsync(1000);
    await vi.advanceTimersByTimeAsync(600);
    expect(socket.readyState).toBe(3);
    expect(states.at(-1)).toBe("reconnecting");
    live.stop();
  });

  it("4400 (client version refused): polls instead of reconnecting", async () => {
    const live = start({ pollMs: 1000 });
    await vi.advanceTimersByTimeAsync(0);
    FakeSocket.all[0].open();
    FakeSocket.all[0].close(4400);
    await vi.advanceTimersByTimeAsync(10000);
    expect(FakeSocket.all).toHaveLength(1);
    expect(states.at(-1)).toBe("polling");
    live.stop();
  });

  it("offline: says so, and reconnects as soon as the device is back online", async () => {
    const online = vi.spyOn(navigator, "onLine", "get").mockReturnValue(false);
    const live = start({ baseDelayMs: 60000, maxDelayMs: 60000 });
    await vi.advanceTimersByTimeAsync(0);
    FakeSocket.all[0].open();
    FakeSocket.all[0].close(1006);
    expect(states.at(-1)).toBe("offline");
    online.mockReturnValue(true);
    window.dispatchEvent(new Event("online"));
    await vi.advanceTimersByTimeAsync(0);
    expect(FakeSocket.all).toHaveLength(2); // not after the long backoff
    FakeSocket.all[1].open();
    expect(states.at(-1)).toBe("live");
    live.stop();
    online.mockRestore();
  });
});
