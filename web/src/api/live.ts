/**
 * Live updates over /ws/home/ (docs/websocket.md), with HTTP polling as the fallback.
 *
 * - Connects with a one-time ticket (POST /api/v1/live/ticket/) as `?ticket=`, declaring the
 *   catalogue version with `?sdui=`. A client that already holds a feed reconnects with
 *   `?resume=1` and sends `resume` with the version and sections it holds.
 * - Reconnects after any close except 4400 with exponential backoff and full jitter
 *   (a random delay between 0 and min(cap, base·2^attempt)), so restarted servers are not
 *   stampeded; 4401 (token expired) reconnects at once, the ticket request refreshing the token.
 * - Sends `ping` every 25 s and reconnects when no `pong` follows within 10 s.
 * - While the socket is down after a failed attempt, or when the browser has no WebSocket, polls
 *   GET /api/v1/home/ with If-None-Match (a 304 costs nothing) until the socket is back.
 */
import type { Feed } from "@/sdui/types";
import { CATALOGUE_VERSION } from "@/sdui/types";

import type { ApiClient } from "./client";
import type { PlansAnswer } from "./plans";

/** An `error` message about a `plans.filter` (bad answers): it carries the request's id. */
export interface PlansError {
  type: "error";
  code: string;
  message: string;
  request_id: string;
}
import { applyUpdate, type FeedUpdated, resumeMessage } from "./feed";

export type LiveState = "connecting" | "live" | "reconnecting" | "polling" | "offline";

export interface LiveOptions {
  api: Pick<ApiClient, "feed" | "ticket">;
  /** The feed the screen holds now. */
  current: () => Feed | null;
  onFeed: (feed: Feed) => void;
  onState: (state: LiveState, detail?: string) => void;
  onError?: (error: unknown) => void;
  /** `recommendations.updated` (the plan finder's answers), and `error`s naming a request. */
  onPlans?: (message: PlansAnswer | PlansError) => void;
  createSocket?: ((url: string) => WebSocket) | null;
  random?: () => number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  pollMs?: number;
  pingMs?: number;
  pongTimeoutMs?: number;
  location?: Pick<Location, "protocol" | "host">;
}

/** Full jitter: a delay in [0, min(max, base·2^attempt)], at least 100 ms. */
export function backoffDelay(attempt: number, random: () => number, base = 500, max = 8000): number {
  const ceiling = Math.min(max, base * 2 ** attempt);
  return Math.max(100, Math.floor(random() * ceiling));
}

export class LiveFeed {
  private socket: WebSocket | null = null;
  private attempt = 0;
  private stopped = false;
  private connecting = false; // between asking for a ticket and having a socket
  private reconnectTimer: number | undefined;
  private pollTimer: number | undefined;
  private pingTimer: number | undefined;
  private pongTimer: number | undefined;
  private readonly o: Required<Omit<LiveOptions, "onError" | "createSocket" | "onPlans">> &
    Pick<LiveOptions, "onError" | "createSocket" | "onPlans">;

  constructor(options: LiveOptions) {
    this.o = {
      random: Math.random,
      baseDelayMs: 500,
      maxDelayMs: 8000,
      pollMs: 5000,
      pingMs: 25000,
      pongTimeoutMs: 10000,
      location: window.location,
      createSocket: typeof WebSocket === "undefined" ? null : (url: string) => new WebSocket(url),
      ...options,
    };
  }

  start(): void {
    this.stopped = false;
    window.addEventListener("online", this.onOnline);
    if (!this.o.createSocket) {
      this.o.onState("polling", "This browser has no WebSocket: updates are fetched every few seconds.");
      this.startPolling();
      return;
    }
    void this.connect();
  }

  /** Back online: try at once rather than after the backoff. */
  private readonly onOnline = () => {
    if (this.stopped || this.socket || this.connecting || !this.o.createSocket) return;
    window.clearTimeout(this.reconnectTimer);
    this.attempt = 0;
    void this.connect();
  };

  stop(): void {
    this.stopped = true;
    window.removeEventListener("online", this.onOnline);
    window.clearTimeout(this.reconnectTimer);
    this.stopPolling();
    this.stopHeartbeat();
    const socket = this.socket;
    this.socket = null;
    socket?.close(1000);
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    this.o.onState(this.attempt === 0 ? "connecting" : "reconnecting");
    let ticket: string;
    this.connecting = true;
    try {
      ticket = await this.o.api.ticket();
    } catch (error) {
      this.connecting = false;
      this.o.onError?.(error);
      this.scheduleReconnect();
      return;
    }
    this.connecting = false;
    if (this.stopped) return;
    const held = this.o.current();
    const scheme = this.o.location.protocol === "https:" ? "wss" : "ws";
    const params = new URLSearchParams({ ticket, sdui: String(CATALOGUE_VERSION) });
    if (held) params.set("resume", "1");
    let socket: WebSocket;
    try {
      socket = this.o.createSocket!(`${scheme}://${this.o.location.host}/ws/home/?${params}`);
    } catch (error) {
      this.o.onError?.(error);
      this.scheduleReconnect();
      return;
    }
    this.socket = socket;
    socket.onopen = () => {
      if (this.socket !== socket) return;
      this.attempt = 0;
      this.stopPolling();
      this.o.onState("live");
      if (held) socket.send(JSON.stringify(resumeMessage(this.o.current() ?? held)));
      this.startHeartbeat(socket);
    };
    socket.onmessage = (event) => {
      if (this.socket !== socket) return;
      this.handle(event.data);
    };
    socket.onclose = (event) => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.stopHeartbeat();
      if (this.stopped) return;
      if (event.code === 4400) {
        this.o.onState("polling", "The server refused this client's version: updates are fetched every few seconds.");
        this.startPolling();
        return;
      }
      if (event.code === 4401) {
        this.attempt = 0; // the token expired: the next ticket request refreshes it
        void this.connect();
        return;
      }
      this.scheduleReconnect();
    };
  }

  /** Send a message on the open socket; false when there is none (the caller uses REST). */
  send(message: Record<string, unknown>): boolean {
    const socket = this.socket;
    if (!socket || socket.readyState !== 1) return false;
    socket.send(JSON.stringify(message));
    return true;
  }

  private handle(raw: unknown): void {
    let message: { type?: string; [key: string]: unknown };
    try {
      message = JSON.parse(String(raw));
    } catch {
      return;
    }
    switch (message.type) {
      case "feed.snapshot":
        this.o.onFeed(message.feed as Feed);
        return;
      case "feed.updated": {
        const held = this.o.current();
        if (held) this.o.onFeed(applyUpdate(held, message as unknown as FeedUpdated));
        return;
      }
      case "pong":
        window.clearTimeout(this.pongTimer);
        return;
      case "recommendations.updated":
        this.o.onPlans?.(message as unknown as PlansAnswer);
        return;
      case "error":
        console.warn("[homeservice] live error", message);
        if (typeof message.request_id === "string") this.o.onPlans?.(message as unknown as PlansError);
        return;
      default:
        return;
    }
  }

  private scheduleReconnect(): void {
    if (this.stopped) return;
    const delay = backoffDelay(this.attempt, this.o.random, this.o.baseDelayMs, this.o.maxDelayMs);
    this.attempt += 1;
    if (typeof navigator !== "undefined" && navigator.onLine === false) {
      this.o.onState("offline", "This device is offline: reconnecting when it is back.");
    } else if (this.attempt >= 2) {
      this.o.onState("polling", "Live updates are unavailable: reconnecting, and fetching updates every few seconds.");
      this.startPolling();
    } else {
      this.o.onState("reconnecting");
    }
    window.clearTimeout(this.reconnectTimer);
    this.reconnectTimer = window.setTimeout(() => void this.connect(), delay);
  }

  private startHeartbeat(socket: WebSocket): void {
    this.stopHeartbeat();
    this.pingTimer = window.setInterval(() => {
      if (socket.readyState !== 1) return;
      socket.send(JSON.stringify({ type: "ping" }));
      window.clearTimeout(this.pongTimer);
      this.pongTimer = window.setTimeout(() => socket.close(4000, "no pong"), this.o.pongTimeoutMs);
    }, this.o.pingMs);
  }

  private stopHeartbeat(): void {
    window.clearInterval(this.pingTimer);
    window.clearTimeout(this.pongTimer);
  }

  private startPolling(): void {
    if (this.pollTimer !== undefined) return;
    const poll = async () => {
      try {
        const feed = await this.o.api.feed(this.o.current()?.version);
        if (feed && !this.stopped) this.o.onFeed(feed);
      } catch (error) {
        this.o.onError?.(error);
      }
    };
    void poll();
    this.pollTimer = window.setInterval(() => void poll(), this.o.pollMs);
  }

  private stopPolling(): void {
    window.clearInterval(this.pollTimer);
    this.pollTimer = undefined;
  }
}
