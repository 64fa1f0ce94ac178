/** Preview mode (the admin's visual preview): one side of the admin's preview, drawn by the renderer. */
import { render, screen } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

import { PreviewScreen, previewParams } from "./Preview";

const feed = (title: string) => ({
  schema_version: 1,
  version: title,
  generated_at: "",
  sections: [
    { id: "product-tv", product: "tv", source: "generic", stale: false, as_of: null, component: { type: "section", props: { title } } },
  ],
});

const calls: { url: string; init?: RequestInit }[] = [];

beforeEach(() => {
  calls.length = 0;
  vi.spyOn(console, "info").mockImplementation(() => {});
  document.cookie = "csrftoken=tok123";
  vi.stubGlobal(
    "fetch",
    vi.fn(async (url: string, init?: RequestInit) => {
      calls.push({ url, init });
      const posted = init?.body ? JSON.parse(String(init.body)) : null;
      const draftTitle = posted ? `Edited ${posted.tree.props.title}` : "Saved draft";
      return new Response(JSON.stringify({ draft: feed(draftTitle), published: feed("Published"), issues: [] }), {
        headers: { "Content-Type": "application/json" },
      });
    }),
  );
});
afterEach(() => vi.unstubAllGlobals());

describe("preview mode", () => {
  it("reads its parameters from the URL", () => {
    expect(previewParams("?preview=12&user=carol&side=published")).toEqual({ template: "12", user: "carol", side: "published" });
    expect(previewParams("?preview=12&user=alice")).toMatchObject({ side: "draft" });
    expect(previewParams("?preview=../x")).toBeNull();
    expect(previewParams("")).toBeNull();
  });

  it("draws the chosen side of the admin's preview for the chosen user", async () => {
    render(<PreviewScreen params={{ template: "7", user: "alice", side: "published" }} />);
    expect(await screen.findByRole("region", { name: "Published" })).toBeInTheDocument();
    expect(calls[0].url).toBe("/admin/ui_templates/componenttemplate/7/preview/?format=json&user=alice");
  });

  it("renders unsaved edits the editor sends, posting them with the CSRF token", async () => {
    render(<PreviewScreen params={{ template: "7", user: "bob", side: "draft" }} />);
    expect(await screen.findByRole("region", { name: "Saved draft" })).toBeInTheDocument();
    window.dispatchEvent(
      new MessageEvent("message", {
        origin: window.location.origin,
        data: { type: "homeservice.preview", tree: { type: "section", props: { title: "Autumn" } }, editor: "form" },
      }),
    );
    expect(await screen.findByRole("region", { name: "Edited Autumn" })).toBeInTheDocument();
    const post = calls.at(-1)!;
    expect(post.init?.method).toBe("POST");
    expect(new Headers(post.init?.headers).get("X-CSRFToken")).toBe("tok123");
    expect(JSON.parse(String(post.init?.body))).toMatchObject({ editor: "form" });
  });

  it("ignores messages from other origins", async () => {
    render(<PreviewScreen params={{ template: "7", user: "bob", side: "draft" }} />);
    await screen.findByRole("region", { name: "Saved draft" });
    window.dispatchEvent(
      new MessageEvent("message", { origin: "https://evil.example", data: { type: "homeservice.preview", tree: {} } }),
    );
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(calls).toHaveLength(1);
  });
});
