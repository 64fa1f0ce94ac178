/** The plan finder panel: questions, answers over the socket or REST, refined and superseded answers. */
import { act, render, screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { beforeEach, describe, expect, it, vi } from "vitest";

import type { PlansError } from "@/api/live";
import { acceptAnswer, cleanAnswers, type Plan, type PlansAnswer, type Questions } from "@/api/plans";

import { PlanFinder } from "./PlanFinder";

const QUESTIONS: Questions = {
  version: "q1",
  questions: [
    {
      id: "product",
      kind: "single",
      text: "What are you looking for?",
      help_text: "",
      options: [
        { id: "mobile", label: "Mobile" },
        { id: "tv", label: "TV" },
      ],
    },
    { id: "budget", kind: "range", text: "What can you spend a month?", help_text: "", min: 0, max: 200, unit: "EUR/month" },
    { id: "extras", kind: "multiple", text: "What matters to you?", help_text: "", options: [{ id: "5g", label: "5G" }] },
  ],
};

const plan = (id: number, name: string): Plan => ({
  id,
  product: "mobile",
  code: `p${id}`,
  name,
  price: { amount: "9.99", currency: "EUR", period: "month" },
  attributes: {},
  score: 0,
});
const answer = (request_id: string, plans: Plan[], extra: Partial<PlansAnswer> = {}): PlansAnswer => ({
  request_id,
  refined: false,
  superseded: false,
  total: plans.length,
  plans,
  ...extra,
});

function open({ socketOpen = true, product = "tv" } = {}) {
  const listeners = new Set<(m: PlansAnswer | PlansError) => void>();
  const sent: Record<string, unknown>[] = [];
  const api = { planQuestions: vi.fn(async () => QUESTIONS), filterPlans: vi.fn() };
  const onChoose = vi.fn(async () => {});
  render(
    <PlanFinder
      api={api}
      product={product}
      sendLive={(message) => {
        if (!socketOpen) return false;
        sent.push(message);
        return true;
      }}
      subscribe={(listener) => {
        listeners.add(listener);
        return () => void listeners.delete(listener);
      }}
      onChoose={onChoose}
      onClose={vi.fn()}
    />,
  );
  const push = (message: PlansAnswer | PlansError) => act(() => listeners.forEach((l) => l(message)));
  return { api, sent, push, onChoose };
}

beforeEach(() => {
  vi.spyOn(console, "warn").mockImplementation(() => {});
});

describe("the plan finder", () => {
  it("asks the questions, with the product it was opened for chosen, and sends the answers as plans.filter", async () => {
    const { sent } = open();
    expect(await screen.findByRole("radio", { name: "TV" })).toBeChecked();
    await userEvent.type(screen.getByLabelText(/What can you spend a month/), "35");
    await userEvent.click(screen.getByRole("checkbox", { name: "5G" }));
    await userEvent.click(screen.getByRole("button", { name: "Show plans" }));
    expect(sent).toEqual([
      { type: "plans.filter", request_id: expect.stringMatching(/^[A-Za-z0-9._:-]{1,64}$/), answers: { product: "tv", budget: 35, extras: ["5g"] } },
    ]);
  });

  it("shows the synchronous answer, replaces it with the refined one, and drops superseded and older answers", async () => {
    const { sent, push } = open();
    await userEvent.click(await screen.findByRole("button", { name: "Show plans" }));
    const first = String(sent[0].request_id);
    await userEvent.click(screen.getByRole("button", { name: "Show plans" }));
    const second = String(sent[1].request_id);
    expect(second).not.toBe(first);

    push(answer(second, [plan(1, "SIM only")]));
    const results = screen.getByTestId("plan-results");
    expect(results).toHaveAttribute("data-refined", "false");
    expect(within(results).getByRole("heading", { name: "SIM only" })).toBeInTheDocument();

    push(answer(first, [plan(9, "Old answer")], { refined: true })); // an older request's
    push(answer(second, [plan(8, "Overtaken")], { refined: true, superseded: true }));
    expect(screen.queryByText("Old answer")).toBeNull();
    expect(screen.queryByText("Overtaken")).toBeNull();

    push(answer(second, [plan(2, "Unlimited 5G"), plan(1, "SIM only")], { refined: true }));
    expect(screen.getByTestId("plan-results")).toHaveAttribute("data-refined", "true");
    expect(screen.getByText("Ranked for you")).toBeInTheDocument();
    expect(screen.getAllByRole("heading", { level: 3 }).map((h) => h.textContent)).toEqual(["Unlimited 5G", "SIM only"]);
  });

  it("uses REST when the socket is not open", async () => {
    const { api } = open({ socketOpen: false });
    api.filterPlans.mockImplementation(async (_answers: unknown, requestId: string) => answer(requestId, [plan(3, "TV Basic")]));
    await userEvent.click(await screen.findByRole("button", { name: "Show plans" }));
    expect(api.filterPlans).toHaveBeenCalledWith({ product: "tv" }, expect.any(String));
    expect(await screen.findByRole("heading", { name: "TV Basic" })).toBeInTheDocument();
  });

  it("shows the server's error about the answers", async () => {
    const { sent, push } = open();
    await userEvent.click(await screen.findByRole("button", { name: "Show plans" }));
    push({ type: "error", code: "invalid_answers", message: "answers.budget: 1000 is out of range.", request_id: String(sent[0].request_id) });
    expect(screen.getByRole("alert")).toHaveTextContent("1000 is out of range");
  });

  it("chooses a plan with the request id of the answer it came from", async () => {
    const { sent, push, onChoose } = open();
    await userEvent.click(await screen.findByRole("button", { name: "Show plans" }));
    const id = String(sent[0].request_id);
    push(answer(id, [plan(2, "Unlimited 5G")], { refined: true }));
    await userEvent.click(screen.getByRole("button", { name: /Choose this plan/ }));
    expect(onChoose).toHaveBeenCalledWith(expect.objectContaining({ id: 2 }), id);
  });
});

describe("acceptAnswer and cleanAnswers", () => {
  it("keeps a refined answer over a late synchronous one of the same request", () => {
    const refined = answer("r2", [], { refined: true });
    expect(acceptAnswer(refined, "r2", answer("r2", [plan(1, "x")]))).toBe(refined);
    expect(acceptAnswer(null, "r2", answer("r1", []))).toBeNull();
  });

  it("leaves out unanswered questions and sends numbers as numbers", () => {
    expect(cleanAnswers(QUESTIONS.questions, { product: "", budget: "", extras: [] })).toEqual({});
    expect(cleanAnswers(QUESTIONS.questions, { budget: "25.5", extras: ["5g"] })).toEqual({ budget: 25.5, extras: ["5g"] });
  });
});
