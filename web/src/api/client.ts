/**
 * The REST side: JWT login, refresh and logout (POST /api/v1/auth/token/, .../refresh/, /logout/), the home feed
 * with If-None-Match, and live tickets. Tokens live in sessionStorage (one login per tab).
 */
import { CATALOGUE_VERSION, type Feed } from "@/sdui/types";

import type { Answers, PlansAnswer, Questions } from "./plans";

export interface Session {
  username: string;
  access: string;
  refresh: string;
}

const KEY = "homeservice.session";

export function loadSession(): Session | null {
  try {
    const raw = sessionStorage.getItem(KEY);
    return raw ? (JSON.parse(raw) as Session) : null;
  } catch {
    return null;
  }
}

/** What a logged-in user leaves in this tab besides the session (cleared when they log out). */
export const USER_STATE_KEYS = ["homeservice.dismissed", "homeservice.events"];

export function saveSession(session: Session | null): void {
  if (session) sessionStorage.setItem(KEY, JSON.stringify(session));
  else [KEY, ...USER_STATE_KEYS].forEach((key) => sessionStorage.removeItem(key));
}

/** A plan chosen in the feed (`select_plan`: code and product) or in the plan finder (id and request). */
export type PlanChoice = { plan: string; product: string } | { planId: number; requestId?: string };

export interface PlanSelection {
  id: number;
  plan: { id: number; code: string; product: string };
  request_id: string;
  selected_at: string;
  forwarded: boolean;
  /** 201: stored now; 200: the same selection was already stored. */
  created: boolean;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly code: string = "",
  ) {
    super(message);
  }
}

async function errorFrom(response: Response): Promise<ApiError> {
  let message = `${response.status} ${response.statusText}`.trim();
  let code = "";
  try {
    const body = await response.json();
    if (body?.error?.message) message = body.error.message;
    if (body?.error?.code) code = body.error.code;
    else if (typeof body?.detail === "string") message = body.detail;
  } catch {
    /* not JSON */
  }
  return new ApiError(response.status, message, code);
}

export async function login(username: string, password: string): Promise<Session> {
  const response = await fetch("/api/v1/auth/token/", {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify({ username, password }),
  });
  if (!response.ok) {
    const error = await errorFrom(response);
    if (response.status === 401) throw new ApiError(401, "Wrong username or password.", error.code);
    throw error;
  }
  const body = (await response.json()) as { access: string; refresh: string };
  return { username, access: body.access, refresh: body.refresh };
}

/**
 * Calls the API with the session's access token, refreshing it once on a 401. A refresh token
 * works once (each refresh answers a new one), so requests that get a 401 together share one
 * refresh; a throttled or failed refresh (429, 5xx) keeps the session for a later try.
 */
export class ApiClient {
  private refreshing: Promise<void> | null = null;

  constructor(
    private session: Session,
    private readonly onSession: (session: Session | null) => void,
  ) {}

  private refresh(): Promise<void> {
    this.refreshing ??= this.refreshOnce().finally(() => {
      this.refreshing = null;
    });
    return this.refreshing;
  }

  private async refreshOnce(): Promise<void> {
    const response = await fetch("/api/v1/auth/token/refresh/", {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ refresh: this.session.refresh }),
    });
    if (response.status === 400 || response.status === 401) {
      this.onSession(null); // the refresh token expired or was revoked: log in again
      throw new ApiError(401, "Your session expired: log in again.");
    }
    if (!response.ok) throw await errorFrom(response);
    const body = (await response.json()) as { access: string; refresh?: string };
    this.session = { ...this.session, access: body.access, refresh: body.refresh ?? this.session.refresh };
    this.onSession(this.session);
  }

  /** Revoke the refresh token (POST /api/v1/auth/logout/); the caller forgets the session anyway. */
  async logout(): Promise<void> {
    try {
      await fetch("/api/v1/auth/logout/", {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify({ refresh: this.session.refresh }),
        keepalive: true,
      });
    } catch {
      /* offline: the token expires on its own */
    }
  }

  async request(path: string, init: RequestInit = {}, retried = false): Promise<Response> {
    const headers = new Headers(init.headers);
    headers.set("Authorization", `Bearer ${this.session.access}`);
    headers.set("Accept", "application/json");
    const response = await fetch(path, { ...init, headers });
    if (response.status === 401 && !retried) {
      await this.refresh();
      return this.request(path, init, true);
    }
    return response;
  }

  /** The feed, or null when `etag` is still current (304). */
  async feed(etag?: string): Promise<Feed | null> {
    const headers: Record<string, string> = { "X-SDUI-Version": String(CATALOGUE_VERSION) };
    if (etag) headers["If-None-Match"] = `"${etag}"`;
    const response = await this.request("/api/v1/home/", { headers, cache: "no-store" });
    if (response.status === 304) return null;
    if (!response.ok) throw await errorFrom(response);
    return (await response.json()) as Feed;
  }

  /** POST /api/v1/events/ with a JSON body of `{"events": [...]}` (api/events.ts sends it). */
  events(body: string, keepalive = false): Promise<Response> {
    return this.request("/api/v1/events/", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body,
      keepalive,
    });
  }

  /** POST /api/v1/plans/select/: the plan by id (plan finder) or by code and product (feed). */
  async selectPlan(choice: PlanChoice): Promise<PlanSelection> {
    const body =
      "planId" in choice
        ? { plan_id: choice.planId, ...(choice.requestId ? { request_id: choice.requestId } : {}) }
        : { plan: choice.plan, product: choice.product };
    const response = await this.request("/api/v1/plans/select/", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    if (!response.ok) throw await errorFrom(response);
    const selection = (await response.json()) as Omit<PlanSelection, "created">;
    return { ...selection, created: response.status === 201 };
  }

  /** GET /api/v1/plans/questions/: the plan finder's questions, in order. */
  async planQuestions(): Promise<Questions> {
    const response = await this.request("/api/v1/plans/questions/", { cache: "no-store" });
    if (!response.ok) throw await errorFrom(response);
    return (await response.json()) as Questions;
  }

  /** POST /api/v1/plans/filter/: the synchronous answer (when the live socket is not open). */
  async filterPlans(answers: Answers, requestId: string): Promise<PlansAnswer> {
    const response = await this.request("/api/v1/plans/filter/", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ answers, request_id: requestId }),
    });
    if (!response.ok) throw await errorFrom(response);
    return (await response.json()) as PlansAnswer;
  }

  /** A one-time ticket for /ws/home/?ticket= (docs/websocket.md). */
  async ticket(): Promise<string> {
    const response = await this.request("/api/v1/live/ticket/", { method: "POST" });
    if (!response.ok) throw await errorFrom(response);
    const body = (await response.json()) as { ticket: string };
    return body.ticket;
  }
}
