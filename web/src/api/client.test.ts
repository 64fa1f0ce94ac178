/** The API client's tokens: one refresh for requests that get a 401 together (a refresh token works once), a throttled refresh keeps the session, logout revokes the refresh token (api/client.ts). */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

import { ApiClient, ApiError, type Session } from "./client";

function json(body: unknown, status = 200, headers: Record<string, string> = {}) {
  return new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json", ...headers } });
}

const SESSION: Session = { username: "alice", access: "a1", refresh: "r1" };
let calls: { url: string; authorization: string | null; body: string }[];
let refreshAnswer: (body: { refresh: string }) => Response;

beforeEach(() => {
  calls = [];
  let next = 1;
  // A server that rotates refresh tokens: each one works once; access "aN" goes with refresh "rN".
  const used = new Set<string>();
  refreshAnswer = ({ refresh }) => {
    if (used.has(refresh)) return json({ error: { code: "token_not_valid", message: "Token is blacklisted", details: {} } }, 401);
    used.add(refresh);
    next += 1;
    return json({ access: `a${next}`, refresh: `r${next}` });
  };
  vi.stubGlobal(
    "fetch",
    vi.fn(async (url: string, init?: RequestInit) => {
      const authorization = new Headers(init?.headers).get("Authorization");
      const body = String(init?.body ?? "");
      calls.push({ url, authorization, body });
      await Promise.resolve(); // answers arrive later: requests overlap
      if (url === "/api/v1/auth/token/refresh/") return refreshAnswer(JSON.parse(body));
      if (url === "/api/v1/auth/logout/") return new Response(null, { status: 204 });
      return authorization === "Bearer a1" ? json({ error: { code: "token_not_valid" } }, 401) : json({ ticket: "t" }, 201);
    }),
  );
});
afterEach(() => vi.unstubAllGlobals());

describe("ApiClient", () => {
  it("refreshes once for requests that get a 401 together, and keeps the rotated refresh token", async () => {
    const sessions: (Session | null)[] = [];
    const api = new ApiClient({ ...SESSION }, (s) => sessions.push(s));

    const tickets = await Promise.all([api.ticket(), api.ticket(), api.ticket()]);

    expect(tickets).toEqual(["t", "t", "t"]);
    expect(calls.filter((c) => c.url === "/api/v1/auth/token/refresh/")).toHaveLength(1);
    expect(sessions).toEqual([{ username: "alice", access: "a2", refresh: "r2" }]);
    expect(calls.filter((c) => c.url === "/api/v1/live/ticket/").map((c) => c.authorization)).toEqual([
      "Bearer a1",
      "Bearer a1",
      "Bearer a1",
      "Bearer a2",
      "Bearer a2",
      "Bearer a2",
    ]);
  });

  it("keeps the session when the refresh is throttled", async () => {
    refreshAnswer = () =>
      json({ error: { code: "throttled", message: "Request was throttled.", details: { retry_after: 5 } } }, 429, { "Retry-After": "5" });
    const sessions: (Session | null)[] = [];
    const api = new ApiClient({ ...SESSION }, (s) => sessions.push(s));

    const error = await api.ticket().catch((e: unknown) => e);

    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).status).toBe(429);
    expect((error as ApiError).code).toBe("throttled");
    expect(sessions).toEqual([]); // not logged out
  });

  it("logs out when the refresh token is refused", async () => {
    refreshAnswer = () => json({ error: { code: "token_not_valid", message: "Token is blacklisted", details: {} } }, 401);
    const sessions: (Session | null)[] = [];
    const api = new ApiClient({ ...SESSION }, (s) => sessions.push(s));

    const error = await api.ticket().catch((e: unknown) => e);

    expect((error as ApiError).status).toBe(401);
    expect(sessions).toEqual([null]);
  });

  it("revokes the current refresh token on logout", async () => {
    const api = new ApiClient({ ...SESSION }, () => {});
    await api.ticket(); // rotates r1 into r2

    await api.logout();

    const logout = calls.find((c) => c.url === "/api/v1/auth/logout/");
    expect(logout && JSON.parse(logout.body)).toEqual({ refresh: "r2" });
  });
});
