/** One test per catalogue component and per action type (ui_templates/catalogue.py, docs/sdui.md). */
import { act, render, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { beforeEach, describe, expect, it, vi } from "vitest";

import { type ActionScope, interactionLog } from "./actions";
import { COMPONENT_TYPES, forgetImpressions, type RenderOptions, SduiNodeView, SduiProvider, SduiScope, timeLeft } from "./render";
import type { SduiNode } from "./types";

function draw(node: SduiNode, options: Partial<RenderOptions> = {}, scope?: ActionScope) {
  const value: RenderOptions = { dismissed: new Set(), dismiss: vi.fn(), notify: vi.fn(), ...options };
  const tree = <SduiNodeView node={node} />;
  const result = render(<SduiProvider value={value}>{scope ? <SduiScope value={scope}>{tree}</SduiScope> : tree}</SduiProvider>);
  return { ...result, options: value };
}

const text = (id: string, value: string, style = "body"): SduiNode => ({ type: "text", id, props: { text: value, style } });

beforeEach(() => {
  forgetImpressions();
  interactionLog.length = 0;
  vi.spyOn(console, "info").mockImplementation(() => {});
  vi.spyOn(console, "warn").mockImplementation(() => {});
});

describe("components", () => {
  it("covers the whole catalogue (15 types)", () => {
    expect(COMPONENT_TYPES).toHaveLength(15);
  });

  it("stack: children in order, vertically", () => {
    const { container } = draw({ type: "stack", id: "s", props: { gap: "large" }, children: [text("a", "One"), text("b", "Two")] });
    const stack = container.querySelector('[data-sdui-type="stack"]')!;
    expect(stack).toHaveClass("flex-col", "gap-6");
    expect(stack.textContent).toBe("OneTwo");
  });

  it("row: children side by side, aligned", () => {
    const { container } = draw({ type: "row", id: "r", props: { align: "between" }, children: [text("a", "Left"), text("b", "Right")] });
    const row = container.querySelector('[data-sdui-type="row"]')!;
    expect(row).toHaveClass("flex-row", "justify-between");
    expect(within(row as HTMLElement).getByText("Left")).toBeInTheDocument();
  });

  it("section: a labelled region with its heading and subtitle", () => {
    draw({ type: "section", id: "sec", props: { title: "Mobile", subtitle: "Just for you" }, children: [text("t", "Inside")] });
    const region = screen.getByRole("region", { name: "Mobile" });
    expect(within(region).getByRole("heading", { level: 2, name: "Mobile" })).toBeInTheDocument();
    expect(within(region).getByText("Just for you")).toBeInTheDocument();
    expect(within(region).getByText("Inside")).toBeInTheDocument();
  });

  it("carousel: a focusable, labelled list of its children", () => {
    draw({ type: "carousel", id: "c", children: [text("a", "First"), text("b", "Second")] });
    const carousel = screen.getByRole("region", { name: /2 items/ });
    expect(carousel).toHaveAttribute("aria-roledescription", "carousel");
    expect(carousel).toHaveAttribute("tabindex", "0");
    expect(within(carousel).getAllByRole("listitem")).toHaveLength(2);
  });

  it("card: an article with its children, and its action as a control", () => {
    draw({
      type: "card",
      id: "card-1",
      props: { offer_id: "o1" },
      children: [text("t", "Upgrade", "title")],
      action: { type: "open_url", url: "https://example.com/up" },
    });
    const card = screen.getByRole("article");
    expect(within(card).getByRole("heading", { name: "Upgrade" })).toBeInTheDocument();
    expect(within(card).getByRole("link", { name: /Open/ })).toHaveAttribute("href", "https://example.com/up");
  });

  it("card: a dismissed offer is not drawn", () => {
    draw({ type: "card", id: "card-1", props: { offer_id: "o1" }, children: [text("t", "Gone")] }, { dismissed: new Set(["o1"]) });
    expect(screen.queryByText("Gone")).toBeNull();
  });

  it("text: each style as the right element", () => {
    draw({
      type: "stack",
      children: [text("a", "Title", "title"), text("b", "Sub", "subtitle"), text("c", "Body"), text("d", "Small", "caption")],
    });
    expect(screen.getByRole("heading", { level: 3, name: "Title" })).toBeInTheDocument();
    expect(screen.getByText("Sub").tagName).toBe("P");
    expect(screen.getByText("Body").tagName).toBe("P");
    expect(screen.getByText("Small")).toHaveClass("text-xs");
  });

  it("image: with its alt text and aspect ratio; a javascript: URL is not drawn", () => {
    draw({ type: "image", id: "i", props: { url: "https://example.com/a.png", alt: "A phone", aspect_ratio: "16:9" } });
    const image = screen.getByRole("img", { name: "A phone" });
    expect(image).toHaveAttribute("src", "https://example.com/a.png");
    expect(image).toHaveClass("aspect-video");
    const { container } = draw({ type: "image", id: "j", props: { url: "javascript:alert(1)", alt: "x" } });
    expect(container.querySelector("img")).toBeNull();
  });

  it("button: its label, its style, its action", async () => {
    const notify = vi.fn();
    draw(
      { type: "button", id: "b", props: { label: "Find a plan", style: "secondary" }, action: { type: "open_plan_finder" } },
      { notify },
    );
    const button = screen.getByRole("button", { name: "Find a plan" });
    expect(button).toHaveClass("bg-secondary");
    await userEvent.click(button);
    expect(notify).toHaveBeenCalled();
  });

  it("badge: its label in its tone", () => {
    draw({ type: "badge", id: "bd", props: { label: "New", tone: "promo" } });
    expect(screen.getByText("New")).toHaveClass("bg-fuchsia-100");
  });

  it("price: formatted in its currency, per period, with the previous price struck through", () => {
    draw({ type: "price", id: "p", props: { amount: "24.99", currency: "EUR", period: "month", previous_amount: "29.99" } });
    expect(screen.getByText("€24.99")).toBeInTheDocument();
    expect(screen.getByText("/ month")).toBeInTheDocument();
    const before = screen.getByText("€29.99", { exact: false });
    expect(before.closest("s")).not.toBeNull();
    expect(before.closest("s")).toHaveTextContent("was €29.99");
  });

  it("list: a titled list with one item per child", () => {
    draw({ type: "list", id: "l", props: { title: "Included" }, children: [text("a", "Calls"), text("b", "Texts")] });
    const list = screen.getByRole("list", { name: "Included" });
    expect(within(list).getAllByRole("listitem").map((li) => li.textContent)).toEqual(["Calls", "Texts"]);
  });

  it("divider: a separator", () => {
    draw({ type: "divider", id: "d" });
    expect(screen.getByRole("separator")).toBeInTheDocument();
  });

  it("spacer: empty space hidden from assistive technology", () => {
    const { container } = draw({ type: "spacer", id: "sp", props: { size: "large" } });
    const spacer = container.querySelector('[data-sdui-type="spacer"]')!;
    expect(spacer).toHaveClass("h-8");
    expect(spacer).toHaveAttribute("aria-hidden", "true");
  });

  it("countdown: the time left until its end, as a <time>", () => {
    const ends = new Date(Date.now() + (2 * 3600 + 5 * 60 + 30) * 1000).toISOString();
    const { container } = draw({ type: "countdown", id: "cd", props: { ends_at: ends, label: "Ends" } });
    const time = container.querySelector("time")!;
    expect(time).toHaveAttribute("datetime", new Date(ends).toISOString());
    expect(container.textContent).toMatch(/^Ends in 2 h 5 min$/);
    expect(timeLeft(new Date(0), new Date(1000))).toBe("ended");
    expect(timeLeft(new Date(3 * 86400 * 1000 + 7200 * 1000), new Date(0))).toBe("3 days 2 h");
  });

  it("banner: a labelled complementary block with its title, body and action", () => {
    draw({
      type: "banner",
      id: "bn",
      props: { title: "Black Friday", body: "Half price", tone: "warning" },
      action: { type: "open_url", url: "https://example.com/bf" },
    });
    const banner = screen.getByRole("complementary", { name: "Black Friday" });
    expect(banner).toHaveClass("bg-amber-50");
    expect(within(banner).getByText("Half price")).toBeInTheDocument();
    expect(within(banner).getByRole("link")).toHaveAttribute("href", "https://example.com/bf");
  });

  it("an unknown type with children falls back to a stack of them", () => {
    const { container } = draw({ type: "hologram", id: "h", children: [text("a", "Still shown")] });
    expect(screen.getByText("Still shown")).toBeInTheDocument();
    expect(container.querySelector('[data-sdui-fallback="stack"]')).not.toBeNull();
    expect(console.warn).toHaveBeenCalled();
  });

  it("an unknown type without children is left out", () => {
    const { container } = draw({ type: "marquee", id: "m", props: { text: "x" } });
    expect(container).toBeEmptyDOMElement();
  });

  it("renders nested trees recursively", () => {
    draw({
      type: "section",
      props: { title: "TV" },
      children: [{ type: "carousel", children: [{ type: "card", children: [{ type: "row", children: [text("deep", "Deep")] }] }] }],
    });
    expect(within(screen.getByRole("article")).getByText("Deep")).toBeInTheDocument();
  });
});

describe("actions", () => {
  const inSection = { sectionId: "product-mobile" };

  it("open_url: a link opening in a new tab, the click reported with its section and card", async () => {
    const report = vi.fn();
    draw(
      {
        type: "card",
        id: "card-1",
        props: { offer_id: "o1" },
        children: [{ type: "button", id: "b", props: { label: "See offer" }, action: { type: "open_url", url: "https://example.com/x" } }],
      },
      { report },
      inSection,
    );
    const link = screen.getByRole("link", { name: /See offer/ });
    expect(link).toHaveAttribute("target", "_blank");
    expect(link).toHaveAttribute("rel", "noopener noreferrer");
    link.addEventListener("click", (event) => event.preventDefault());
    await userEvent.click(link);
    expect(report).toHaveBeenCalledWith(
      { kind: "click", section_id: "product-mobile", component_id: "b", offer_id: "o1" },
      { urgent: undefined },
    );
  });

  it("open_url: a javascript: URL gives no link", () => {
    const { container } = draw({ type: "button", props: { label: "Bad" }, action: { type: "open_url", url: "JavaScript:alert(1)" } });
    expect(container.querySelector("a")).toBeNull();
  });

  it("deeplink: shown as an app link with its address, not followed", async () => {
    const notify = vi.fn();
    const report = vi.fn();
    draw(
      { type: "button", id: "dl", props: { label: "Open my plan" }, action: { type: "deeplink", uri: "homeservice://plans/5g" } },
      { notify, report },
      inSection,
    );
    const link = screen.getByRole("link", { name: /Open my plan.*app link homeservice:\/\/plans\/5g/ });
    expect(link).toHaveAttribute("href", "homeservice://plans/5g");
    expect(link).toHaveAttribute("title", "App link: homeservice://plans/5g");
    await userEvent.click(link);
    expect(notify).toHaveBeenCalledWith("This opens homeservice://plans/5g in the app.");
    expect(report.mock.calls[0][0]).toMatchObject({ kind: "click", component_id: "dl" });
  });

  it("dismiss: hides the offer and reports the dismissal at once", async () => {
    const dismiss = vi.fn();
    const report = vi.fn();
    draw(
      { type: "button", id: "x", props: { label: "Not interested", style: "link" }, action: { type: "dismiss", offer_id: "o7" } },
      { dismiss, report },
      inSection,
    );
    await userEvent.click(screen.getByRole("button", { name: "Not interested" }));
    expect(dismiss).toHaveBeenCalledWith("o7", expect.objectContaining({ id: "x" }));
    expect(report).toHaveBeenCalledWith(
      { kind: "dismiss", section_id: "product-mobile", component_id: "x", offer_id: "o7" },
      { urgent: true },
    );
  });

  it("outside a feed section (the admin preview) nothing is reported", async () => {
    const report = vi.fn();
    draw({ type: "button", id: "x", props: { label: "Not interested" }, action: { type: "dismiss", offer_id: "o7" } }, { report });
    await userEvent.click(screen.getByRole("button", { name: "Not interested" }));
    expect(report).not.toHaveBeenCalled();
    expect(interactionLog.at(-1)).toMatchObject({ kind: "dismiss", offer_id: "o7" });
  });

  it("select_plan: calls the handler with the plan, the control waiting until it answers", async () => {
    let answer: () => void = () => {};
    const selectPlan = vi.fn(() => new Promise<void>((resolve) => (answer = resolve)));
    const report = vi.fn();
    draw(
      {
        type: "card",
        id: "card-2",
        props: { offer_id: "o2" },
        children: [{ type: "button", id: "choose", props: { label: "Choose" }, action: { type: "select_plan", product: "mobile", plan: "5g-50" } }],
      },
      { selectPlan, report },
      inSection,
    );
    const button = screen.getByRole("button", { name: "Choose" });
    await userEvent.click(button);
    expect(selectPlan).toHaveBeenCalledWith(
      { product: "mobile", plan: "5g-50" },
      expect.objectContaining({ id: "choose" }),
      expect.objectContaining({ sectionId: "product-mobile", cardId: "card-2", offerId: "o2" }),
    );
    expect(report.mock.calls[0][0]).toEqual({ kind: "click", section_id: "product-mobile", component_id: "choose", offer_id: "o2" });
    expect(button).toBeDisabled(); // no second selection while the first is under way
    await userEvent.click(button);
    expect(selectPlan).toHaveBeenCalledTimes(1);
    answer();
    await waitFor(() => expect(button).toBeEnabled());
  });

  it("open_plan_finder: opens the plan finder for the product", async () => {
    const openPlanFinder = vi.fn();
    draw({ type: "button", props: { label: "Find the right plan" }, action: { type: "open_plan_finder", product: "tv" } }, { openPlanFinder });
    await userEvent.click(screen.getByRole("button", { name: "Find the right plan" }));
    expect(openPlanFinder).toHaveBeenCalledWith("tv");
  });

  it("open_plan_finder: without a plan finder the user is told so", async () => {
    const notify = vi.fn();
    draw({ type: "button", props: { label: "Find the right plan" }, action: { type: "open_plan_finder", product: "tv" } }, { notify });
    await userEvent.click(screen.getByRole("button", { name: "Find the right plan" }));
    expect(notify).toHaveBeenCalledWith("The plan finder for tv is not available here.");
  });

  it("track: reported as a click, without navigating or notifying", async () => {
    const notify = vi.fn();
    const report = vi.fn();
    draw({ type: "button", id: "like", props: { label: "Like" }, action: { type: "track", event: "liked", properties: { a: 1 } } }, { notify, report }, inSection);
    await userEvent.click(screen.getByRole("button", { name: "Like" }));
    expect(notify).not.toHaveBeenCalled();
    expect(report.mock.calls[0][0]).toEqual({ kind: "click", section_id: "product-mobile", component_id: "like" });
    expect(interactionLog.at(-1)).toMatchObject({ kind: "click", action: "track:liked" });
  });

  it("impressions: a card half on screen is reported once, with its offer", () => {
    const observers: { callback: IntersectionObserverCallback; element?: Element }[] = [];
    vi.stubGlobal(
      "IntersectionObserver",
      class {
        constructor(readonly callback: IntersectionObserverCallback) {
          observers.push(this as unknown as { callback: IntersectionObserverCallback });
        }
        observe(element: Element) {
          (this as unknown as { element: Element }).element = element;
        }
        disconnect() {}
      },
    );
    const report = vi.fn();
    draw({ type: "card", id: "card-9", props: { offer_id: "o9" }, children: [text("t", "Seen")] }, { report }, { sectionId: "product-tv" });
    const seen = (visible: boolean) =>
      act(() => observers.forEach((o) => o.callback([{ isIntersecting: visible } as IntersectionObserverEntry], {} as IntersectionObserver)));
    seen(false);
    expect(report).not.toHaveBeenCalled();
    seen(true);
    seen(true);
    expect(report).toHaveBeenCalledTimes(1);
    expect(report).toHaveBeenCalledWith({ kind: "impression", section_id: "product-tv", component_id: "card-9", offer_id: "o9" }, { urgent: undefined });
    vi.unstubAllGlobals();
  });

  it("an unknown action type gives a disabled control", () => {
    draw({ type: "button", props: { label: "Teleport" }, action: { type: "teleport" } });
    expect(screen.getByRole("button", { name: "Teleport" })).toBeDisabled();
  });

  it("buttons are reachable and usable with the keyboard", async () => {
    const notify = vi.fn();
    draw({ type: "button", props: { label: "Find" }, action: { type: "open_plan_finder" } }, { notify });
    await userEvent.tab();
    expect(screen.getByRole("button", { name: "Find" })).toHaveFocus();
    await userEvent.keyboard("{Enter}");
    expect(notify).toHaveBeenCalledTimes(1);
  });
});
