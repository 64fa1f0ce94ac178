/**
 * The plan finder panel (docs/web-client.md, "The plan finder"): the questions of
 * GET /api/v1/plans/questions/, answers sent as `plans.filter` over the live socket (REST
 * `POST /api/v1/plans/filter/` when it is not open), the synchronous answer at once, replaced by
 * the refined one of the same request when it comes; answers to older requests and superseded
 * ones are dropped (api/plans.ts, `acceptAnswer`).
 */
import * as React from "react";
import { Sparkles, X } from "lucide-react";

import { ApiError, type ApiClient } from "@/api/client";
import type { PlansError } from "@/api/live";
import { acceptAnswer, cleanAnswers, newRequestId, type Plan, type PlansAnswer, type Question } from "@/api/plans";
import { Alert, AlertDescription } from "@/components/ui/alert";
import { Badge } from "@/components/ui/badge";
import { Button } from "@/components/ui/button";
import { Card, CardContent, CardFooter } from "@/components/ui/card";
import { Input } from "@/components/ui/input";
import { Label } from "@/components/ui/label";
import { Skeleton } from "@/components/ui/skeleton";
import { formatMoney } from "@/sdui/render";

export interface PlanFinderProps {
  api: Pick<ApiClient, "planQuestions" | "filterPlans">;
  /** The product the finder was opened for (preselected when it is an option of a question). */
  product?: string;
  /** Send `plans.filter` on the live socket; false when it is not open. */
  sendLive: (message: Record<string, unknown>) => boolean;
  /** Register for the socket's plan finder messages; returns the unregister function. */
  subscribe: (listener: (message: PlansAnswer | PlansError) => void) => () => void;
  onChoose: (plan: Plan, requestId: string) => Promise<unknown>;
  onClose: () => void;
}

type Draft = Record<string, string | string[]>;

export function PlanFinder({ api, product, sendLive, subscribe, onChoose, onClose }: PlanFinderProps) {
  const headingId = React.useId();
  const [questions, setQuestions] = React.useState<Question[] | null>(null);
  const [loadError, setLoadError] = React.useState("");
  const [draft, setDraft] = React.useState<Draft>({});
  const [answer, setAnswer] = React.useState<PlansAnswer | null>(null);
  const [error, setError] = React.useState("");
  const [waiting, setWaiting] = React.useState(false);
  const [choosing, setChoosing] = React.useState<number | null>(null);
  const latest = React.useRef<string | null>(null);
  const heading = React.useRef<HTMLHeadingElement>(null);

  React.useEffect(() => heading.current?.focus(), []); // opened: the keyboard and screen readers go there

  const load = React.useCallback(async () => {
    setLoadError("");
    try {
      const found = await api.planQuestions();
      setQuestions(found.questions);
      const productQuestion = found.questions.find(
        (q) => q.kind === "single" && q.options.some((o) => o.id === product),
      );
      if (product && productQuestion) setDraft((current) => ({ [productQuestion.id]: product, ...current }));
    } catch (caught) {
      setLoadError(caught instanceof Error ? caught.message : String(caught));
    }
  }, [api, product]);

  React.useEffect(() => {
    void load();
  }, [load]);

  const receive = React.useCallback((incoming: PlansAnswer) => {
    setAnswer((shown) => acceptAnswer(shown, latest.current, incoming));
    if (incoming.request_id === latest.current) {
      setWaiting(false);
      setError("");
    }
  }, []);

  React.useEffect(
    () =>
      subscribe((message) => {
        if ("type" in message && message.type === "error") {
          if (message.request_id !== latest.current) return;
          setWaiting(false);
          setError(message.message);
          return;
        }
        receive(message as PlansAnswer);
      }),
    [subscribe, receive],
  );

  async function submit(event: React.FormEvent) {
    event.preventDefault();
    if (!questions) return;
    const requestId = newRequestId();
    latest.current = requestId;
    const answers = cleanAnswers(questions, draft);
    setError("");
    setWaiting(true);
    if (sendLive({ type: "plans.filter", request_id: requestId, answers })) return; // the socket answers
    try {
      receive(await api.filterPlans(answers, requestId));
    } catch (caught) {
      if (latest.current !== requestId) return;
      setWaiting(false);
      setError(caught instanceof ApiError || caught instanceof Error ? caught.message : String(caught));
    }
  }

  async function choose(plan: Plan) {
    if (!answer) return;
    setChoosing(plan.id);
    try {
      await onChoose(plan, answer.request_id);
    } finally {
      setChoosing(null);
    }
  }

  return (
    <section
      aria-labelledby={headingId}
      data-testid="plan-finder"
      className="flex flex-col gap-4 rounded-xl border bg-card p-4 text-card-foreground shadow-sm"
    >
      <header className="flex items-start justify-between gap-3">
        <div>
          <h2 id={headingId} ref={heading} tabIndex={-1} className="text-xl font-semibold tracking-tight outline-none">
            Find the right plan
          </h2>
          <p className="text-sm text-muted-foreground">Answer what matters to you; plans that fit come first.</p>
        </div>
        <Button variant="ghost" size="sm" onClick={onClose}>
          <X aria-hidden="true" /> Close
        </Button>
      </header>
      {loadError ? (
        <Alert variant="destructive" role="alert">
          <AlertDescription className="flex flex-col items-start gap-2">
            <p>The questions could not be loaded: {loadError}</p>
            <Button variant="outline" size="sm" onClick={() => void load()}>
              Try again
            </Button>
          </AlertDescription>
        </Alert>
      ) : null}
      {!questions && !loadError ? <Skeleton className="h-40 w-full" aria-label="Loading the questions" /> : null}
      {questions ? (
        <form onSubmit={(event) => void submit(event)} className="flex flex-col gap-4">
          {questions.map((question) => (
            <QuestionField
              key={question.id}
              question={question}
              value={draft[question.id]}
              onChange={(value) => setDraft((current) => ({ ...current, [question.id]: value }))}
            />
          ))}
          <Button type="submit" className="w-fit" aria-busy={waiting || undefined}>
            Show plans
          </Button>
        </form>
      ) : null}
      {error ? (
        <Alert variant="destructive" role="alert">
          <AlertDescription>{error}</AlertDescription>
        </Alert>
      ) : null}
      <div aria-live="polite">
        {waiting ? <p className="text-sm text-muted-foreground">Looking for plans…</p> : null}
        {answer ? (
          <Results answer={answer} choosing={choosing} onChoose={(plan) => void choose(plan)} />
        ) : null}
      </div>
    </section>
  );
}

function QuestionField({
  question,
  value,
  onChange,
}: {
  question: Question;
  value: string | string[] | undefined;
  onChange: (value: string | string[]) => void;
}) {
  const id = React.useId();
  const help = question.help_text ? <p className="text-xs text-muted-foreground">{question.help_text}</p> : null;
  if (question.kind === "range") {
    return (
      <div className="flex flex-col gap-1.5">
        <Label htmlFor={id}>
          {question.text}{" "}
          <span className="font-normal text-muted-foreground">
            ({question.unit}, {question.min}–{question.max})
          </span>
        </Label>
        {help}
        <Input
          id={id}
          type="number"
          inputMode="decimal"
          min={question.min}
          max={question.max}
          value={typeof value === "string" ? value : ""}
          onChange={(event) => onChange(event.target.value)}
          className="max-w-40"
        />
      </div>
    );
  }
  const multiple = question.kind === "multiple";
  const chosen = Array.isArray(value) ? value : typeof value === "string" ? [value] : [];
  return (
    <fieldset className="flex flex-col gap-1.5">
      <legend className="text-sm font-medium">{question.text}</legend>
      {help}
      <div className="flex flex-wrap gap-x-4 gap-y-2 pt-1">
        {question.options.map((option) => (
          <label key={option.id} className="flex items-center gap-2 text-sm">
            <input
              type={multiple ? "checkbox" : "radio"}
              name={`${id}-${question.id}`}
              value={option.id}
              checked={chosen.includes(option.id)}
              onChange={(event) => {
                if (!multiple) return onChange(option.id);
                onChange(event.target.checked ? [...chosen, option.id] : chosen.filter((c) => c !== option.id));
              }}
              className="size-4 accent-primary focus-visible:ring-[3px] focus-visible:ring-ring"
            />
            {option.label}
          </label>
        ))}
      </div>
    </fieldset>
  );
}

function Results({ answer, choosing, onChoose }: { answer: PlansAnswer; choosing: number | null; onChoose: (plan: Plan) => void }) {
  return (
    <div data-testid="plan-results" data-request-id={answer.request_id} data-refined={String(answer.refined)} className="flex flex-col gap-3">
      <p className="flex flex-wrap items-center gap-2 text-sm">
        <span>
          {answer.total === 0
            ? "No plan fits these answers."
            : `${answer.total} plan${answer.total === 1 ? "" : "s"} fit${answer.total === 1 ? "s" : ""}` +
              (answer.plans.length < answer.total ? `; the best ${answer.plans.length}:` : ":")}
        </span>
        {answer.refined ? (
          <Badge variant="success">
            <Sparkles aria-hidden="true" className="mr-1 size-3" /> Ranked for you
          </Badge>
        ) : null}
      </p>
      <ul className="grid gap-3 sm:grid-cols-2">
        {answer.plans.map((plan) => (
          <li key={plan.id}>
            <Card role="article" data-plan-id={plan.id} className="flex h-full flex-col">
              <CardContent className="flex flex-1 flex-col gap-1 p-4">
                <h3 className="font-semibold">{plan.name}</h3>
                <Badge variant="secondary" className="w-fit">
                  {plan.product}
                </Badge>
                {plan.price ? (
                  <p className="text-sm">
                    <span className="font-bold">{formatMoney(plan.price.amount, plan.price.currency)}</span>
                    {plan.price.period ? <span className="text-muted-foreground"> / {plan.price.period}</span> : null}
                  </p>
                ) : null}
              </CardContent>
              <CardFooter className="p-4 pt-0">
                <Button
                  size="sm"
                  variant="outline"
                  disabled={choosing !== null}
                  aria-busy={choosing === plan.id || undefined}
                  onClick={() => onChoose(plan)}
                >
                  Choose this plan<span className="sr-only"> ({plan.name})</span>
                </Button>
              </CardFooter>
            </Card>
          </li>
        ))}
      </ul>
    </div>
  );
}
