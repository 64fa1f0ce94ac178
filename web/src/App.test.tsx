/** The screens: login, and the home feed's loading, error, empty and ready states (fetch mocked). */
import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

import App from "./App";

function json(body: unknown, status = 200, headers: Record<string, string> = {}) {
  return new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json", ...headers } });
}

const FEED = {
  schema_version: 1,
  version: "v1",
  generated_at: "",
  sections: [
    {
      id: "product-mobile",
      product: "mobile",
      source: "personalised",
      stale: true,
      as_of: null,
      component: {
        type: "section",
        id: "product-mobile",
        props: { title: "Mobile", subtitle: "Just for you" },
        children: [{ type: "card", id: "c", props: { offer_id: "o1" }, children: [{ type: "text", props: { text: "Upgrade", style: "title" } }] }],
      },
    },
  ],
};

let feedResponse: () => Response | Promise<Response>;
const calls: { url: string; init?: RequestInit }[] = [];

beforeEach(() => {
  calls.length = 0;
  vi.spyOn(console, "info").mockImplementation(() => {});
  vi.stubGlobal("WebSocket", undefined); // the screens poll; the socket has its own tests
  vi.stubGlobal(
    "fetch",
    vi.fn(async (url: string, init?: RequestInit) => {
      calls.push({ url, init });
      if (url === "/api/v1/auth/token/") {
        const body = JSON.parse(String(init?.body));
        return body.password === "demo1234"
          ? json({ access: "a", refresh: "r" })
          : json({ detail: "No active account found with the given credentials" }, 401);
      }
      if (url === "/api/v1/home/") return feedResponse();
      return json({}, 404);
    }),
  );
});
afterEach(() => vi.unstubAllGlobals());

async function logIn(password = "demo1234") {
  render(<App />);
  await userEvent.type(screen.getByLabelText("Username"), "alice");
  await userEvent.type(screen.getByLabelText("Password"), password);
  await userEvent.click(screen.getByRole("button", { name: "Log in" }));
}

describe("the web client", () => {
  it("hides a dismissed offer and says so", async () => {
    feedResponse = () =>
      json({
        ...FEED,
        sections: [
          {
            ...FEED.sections[0],
            component: {
              ...FEED.sections[0].component,
              children: [
                {
                  type: "card",
                  id: "c",
                  props: { offer_id: "o1" },
                  children: [
                    { type: "text", props: { text: "Upgrade", style: "title" } },
                    { type: "button", props: { label: "Not interested", style: "link" }, action: { type: "dismiss", offer_id: "o1" } },
                  ],
                },
              ],
            },
          },
        ],
      });
    await logIn();
    await userEvent.click(await screen.findByRole("button", { name: "Not interested" }));
    expect(screen.queryByRole("heading", { name: "Upgrade" })).toBeNull();
    expect(screen.getByTestId("notice")).toHaveTextContent("Offer hidden.");
    expect(JSON.parse(sessionStorage.getItem("homeservice.dismissed") ?? "[]")).toEqual(["o1"]);
  });

  it("refuses a wrong password with a message", async () => {
    feedResponse = () => json(FEED);
    await logIn("nope");
    expect(await screen.findByRole("alert")).toHaveTextContent("Wrong username or password.");
  });

  it("logs in, shows loading, then the feed, with the stale mark and the version", async () => {
    let release: (r: Response) => void = () => {};
    feedResponse = () => new Promise<Response>((resolve) => (release = resolve));
    await logIn();
    expect(await screen.findByTestId("loading")).toBeInTheDocument();
    expect(screen.getByRole("main")).toHaveAttribute("aria-busy", "true");
    release(json(FEED, 200, { ETag: '"v1"' }));
    expect(await screen.findByRole("region", { name: "Mobile" })).toBeInTheDocument();
    expect(screen.getByText("May be out of date")).toBeInTheDocument();
    expect(screen.getByRole("main")).toHaveAttribute("data-feed-version", "v1");
    expect(screen.getByTestId("username")).toHaveTextContent("alice");
    const feedCall = calls.find((c) => c.url === "/api/v1/home/")!;
    const headers = new Headers(feedCall.init?.headers);
    expect(headers.get("Authorization")).toBe("Bearer a");
    expect(headers.get("X-SDUI-Version")).toBe("2");
    expect(screen.getByTestId("connection")).toHaveAttribute("data-state", "polling");
  });

  it("shows an empty state", async () => {
    feedResponse = () => json({ ...FEED, sections: [] });
    await logIn();
    expect(await screen.findByTestId("empty-feed")).toHaveTextContent("Nothing here yet");
  });

  it("shows an error with a way to try again", async () => {
    feedResponse = () => json({ error: { code: "unavailable", message: "The service is unavailable." } }, 503);
    await logIn();
    const alert = await screen.findByRole("alert");
    expect(alert).toHaveTextContent("The service is unavailable.");
    feedResponse = () => json(FEED);
    await userEvent.click(screen.getByRole("button", { name: /Try again/ }));
    expect(await screen.findByRole("region", { name: "Mobile" })).toBeInTheDocument();
  });

  it("logs out", async () => {
    feedResponse = () => json(FEED);
    await logIn();
    await screen.findByRole("region", { name: "Mobile" });
    sessionStorage.setItem("homeservice.dismissed", '["o1"]');
    await userEvent.click(screen.getByRole("button", { name: "Log out" }));
    expect(screen.getByLabelText("Username")).toBeInTheDocument();
    expect(sessionStorage.getItem("homeservice.session")).toBeNull();
    expect(sessionStorage.getItem("homeservice.dismissed")).toBeNull(); // the next user starts afresh
  });
});
