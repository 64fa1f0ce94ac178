/**
 * The plan finder's data (docs/api.md, "The plan finder"; docs/websocket.md, "The plan finder").
 *
 * Answers go out as `plans.filter` over the live socket, or as `POST /api/v1/plans/filter/` when
 * the socket is not open; either way the synchronous answer (`refined: false`) comes first and the
 * answer refined for the user (`refined: true`, same `request_id`) may follow over the socket.
 * `acceptAnswer` decides which answer the screen shows.
 */

export interface QuestionOption {
  id: string;
  label: string;
}

export type Question =
  | { id: string; kind: "single" | "multiple"; text: string; help_text: string; options: QuestionOption[] }
  | { id: string; kind: "range"; text: string; help_text: string; min: number; max: number; unit: string };

export interface Questions {
  version: string;
  questions: Question[];
}

export interface Plan {
  id: number;
  product: string;
  code: string;
  name: string;
  price: { amount: string; currency: string; period: string } | null;
  attributes: Record<string, unknown>;
  score: number;
}

/** `recommendations.updated` over the socket, or the REST answer of the same shape. */
export interface PlansAnswer {
  request_id: string;
  refined: boolean;
  superseded: boolean;
  total: number;
  plans: Plan[];
}

export type Answers = Record<string, string | string[] | number>;

let sequence = 0;

/** A request id the server accepts (1–64 of `A-Z a-z 0-9 . _ : -`), new for each request. */
export function newRequestId(): string {
  sequence += 1;
  return `web-${Date.now().toString(36)}-${sequence}-${Math.random().toString(36).slice(2, 8)}`;
}

/**
 * The answer to show, given the one shown, the newest request sent, and one that arrived:
 * answers to older requests and `superseded` ones are dropped; the refined answer replaces the
 * synchronous one of its request; a synchronous answer arriving after the refined one is ignored.
 */
export function acceptAnswer(shown: PlansAnswer | null, latestRequestId: string | null, incoming: PlansAnswer): PlansAnswer | null {
  if (incoming.superseded) return shown;
  if (incoming.request_id !== latestRequestId) return shown;
  if (shown && shown.request_id === incoming.request_id && shown.refined && !incoming.refined) return shown;
  return incoming;
}

/** Answers as the API takes them: unanswered questions (no choice, an empty number) left out. */
export function cleanAnswers(questions: Question[], draft: Record<string, string | string[]>): Answers {
  const answers: Answers = {};
  for (const question of questions) {
    const value = draft[question.id];
    if (question.kind === "range") {
      if (typeof value === "string" && value.trim() !== "" && Number.isFinite(Number(value))) answers[question.id] = Number(value);
    } else if (question.kind === "multiple") {
      if (Array.isArray(value) && value.length) answers[question.id] = value;
    } else if (typeof value === "string" && value) {
      answers[question.id] = value;
    }
  }
  return answers;
}
