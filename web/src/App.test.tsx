/** The screens: login, and the home feed's loading, error, empty and ready states (fetch mocked). */
import { render, screen, waitFor, within } from "@testing-library/react";
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
let selectResponse: () => Response | Promise<Response>;
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
      if (url === "/api/v1/events/") return json({ accepted: 1, duplicates: 0, dismissed: [] }, 202);
      if (url === "/api/v1/plans/select/") return selectResponse();
      if (url === "/api/v1/plans/questions/")
        return json({ version: "q", questions: [{ id: "product", kind: "single", text: "What are you looking for?", help_text: "", options: [{ id: "tv", label: "TV" }] }] });
      if (url === "/api/v1/plans/filter/") {
        const body = JSON.parse(String(init?.body));
        const plans = [{ id: 6, product: "tv", code: "tv-basic", name: "TV Basic", price: null, attributes: {}, score: 0 }];
        return json({ request_id: body.request_id, refined: false, superseded: false, total: 1, plans });
      }
      return json({}, 404);
    }),
  );
});
afterEach(() => vi.unstubAllGlobals());

/** The feed with one card holding a button with this action. */
function withButton(props: Record<string, unknown>, action: Record<string, unknown>) {
  return {
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
              children: [{ type: "text", props: { text: "Upgrade", style: "title" } }, { type: "button", id: "b", props, action }],
            },
          ],
        },
      },
    ],
  };
}

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

  it("reports the dismissal to the events API at once, with its section, button and offer", async () => {
    feedResponse = () => json(withButton({ label: "Not interested", style: "link" }, { type: "dismiss", offer_id: "o1" }));
    await logIn();
    await userEvent.click(await screen.findByRole("button", { name: "Not interested" }));
    await waitFor(() => expect(calls.some((c) => c.url === "/api/v1/events/")).toBe(true));
    const call = calls.find((c) => c.url === "/api/v1/events/")!;
    expect(call.init?.method).toBe("POST");
    expect(new Headers(call.init?.headers).get("Authorization")).toBe("Bearer a");
    const { events } = JSON.parse(String(call.init?.body));
    expect(events).toEqual([
      {
        id: expect.stringMatching(/^w-/),
        kind: "dismiss",
        section_id: "product-mobile",
        component_id: "b",
        offer_id: "o1",
        occurred_at: expect.any(String),
      },
    ]);
  });

  it("select_plan: chooses the plan on the server and says so", async () => {
    feedResponse = () => json(withButton({ label: "Choose" }, { type: "select_plan", product: "mobile", plan: "unlimited-5g" }));
    selectResponse = () =>
      json(
        {
          id: 41,
          plan: { id: 2, code: "unlimited-5g", product: "mobile" },
          request_id: "",
          selected_at: "2026-11-23T12:00:00Z",
          forwarded: true,
        },
        201,
      );
    await logIn();
    await userEvent.click(await screen.findByRole("button", { name: "Choose" }));
    expect(await screen.findByText(/You chose plan “unlimited-5g” \(mobile\)/)).toBeInTheDocument();
    const call = calls.find((c) => c.url === "/api/v1/plans/select/")!;
    expect(JSON.parse(String(call.init?.body))).toEqual({ plan: "unlimited-5g", product: "mobile" });
    // The click, then the conversion, go to the events API.
    await waitFor(() => {
      const kinds = calls
        .filter((c) => c.url === "/api/v1/events/")
        .flatMap((c) => JSON.parse(String(c.init?.body)).events.map((e: { kind: string }) => e.kind));
      expect(kinds).toContain("convert");
    });
  });

  it("select_plan: a refusal is shown as an error", async () => {
    feedResponse = () => json(withButton({ label: "Choose" }, { type: "select_plan", product: "mobile", plan: "gone" }));
    selectResponse = () =>
      json({ error: { code: "invalid", message: "plan_id: No active plan 'gone' of 'mobile'.", details: {} } }, 400);
    await logIn();
    await userEvent.click(await screen.findByRole("button", { name: "Choose" }));
    const notice = await screen.findByText(/could not be chosen: plan_id: No active plan 'gone'/);
    expect(notice.closest("[data-tone]")).toHaveAttribute("data-tone", "error");
    expect(screen.getByRole("button", { name: "Choose" })).toBeEnabled(); // try again
  });

  it("open_plan_finder opens the plan finder; without a socket it asks over REST; a plan is chosen with its request id", async () => {
    feedResponse = () => json(withButton({ label: "Find the right plan" }, { type: "open_plan_finder", product: "tv" }));
    selectResponse = () =>
      json({ id: 1, plan: { id: 6, code: "tv-basic", product: "tv" }, request_id: "x", selected_at: "", forwarded: false }, 201);
    await logIn();
    await userEvent.click(await screen.findByRole("button", { name: "Find the right plan" }));
    const finder = await screen.findByTestId("plan-finder");
    expect(await within(finder).findByRole("radio", { name: "TV" })).toBeChecked();
    await userEvent.click(within(finder).getByRole("button", { name: "Show plans" }));
    expect(await within(finder).findByRole("heading", { name: "TV Basic" })).toBeInTheDocument();
    const filter = JSON.parse(String(calls.find((c) => c.url === "/api/v1/plans/filter/")!.init?.body));
    expect(filter.answers).toEqual({ product: "tv" });
    await userEvent.click(within(finder).getByRole("button", { name: /Choose this plan/ }));
    expect(await screen.findByText(/You chose “TV Basic” \(tv\)\. Your choice is saved\./)).toBeInTheDocument();
    const select = JSON.parse(String(calls.find((c) => c.url === "/api/v1/plans/select/")!.init?.body));
    expect(select).toEqual({ plan_id: 6, request_id: filter.request_id });
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
    const logout = calls.find((c) => c.url === "/api/v1/auth/logout/");
    expect(logout && JSON.parse(String(logout.init?.body))).toEqual({ refresh: "r" }); // revoked on the server
  });
});
