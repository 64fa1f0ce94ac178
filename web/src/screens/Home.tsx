import * as React from "react";
import { RefreshCw } from "lucide-react";

import { ApiError, type ApiClient } from "@/api/client";
import { type EventInput, EventQueue } from "@/api/events";
import { LiveFeed, type LiveState, type PlansError } from "@/api/live";
import type { Plan, PlansAnswer } from "@/api/plans";
import { Alert, AlertDescription, AlertTitle } from "@/components/ui/alert";
import { Button } from "@/components/ui/button";
import { Skeleton } from "@/components/ui/skeleton";
import { cn } from "@/lib/utils";
import type { ActionScope } from "@/sdui/actions";
import type { Feed, SduiNode } from "@/sdui/types";

import { FeedView } from "./FeedView";
import { PlanFinder } from "./PlanFinder";

const DISMISSED_KEY = "homeservice.dismissed";

type Load = { status: "loading" } | { status: "error"; message: string } | { status: "ready"; feed: Feed };

export function HomeScreen({ api, username, onLogout }: { api: ApiClient; username: string; onLogout: () => void }) {
  const [load, setLoad] = React.useState<Load>({ status: "loading" });
  const [live, setLive] = React.useState<{ state: LiveState; detail?: string }>({ state: "connecting" });
  const [notice, setNoticeState] = React.useState<{ text: string; tone: "info" | "error" }>({ text: "", tone: "info" });
  const setNotice = React.useCallback((text: string, tone: "info" | "error" = "info") => setNoticeState({ text, tone }), []);
  const eventsRef = React.useRef<EventQueue | null>(null);
  const liveRef = React.useRef<LiveFeed | null>(null);
  const plansListeners = React.useRef(new Set<(message: PlansAnswer | PlansError) => void>());
  const [finder, setFinder] = React.useState<{ product?: string; key: number } | null>(null);
  const [dismissed, setDismissed] = React.useState<Set<string>>(
    () => new Set(JSON.parse(sessionStorage.getItem(DISMISSED_KEY) ?? "[]") as string[]),
  );
  const feedRef = React.useRef<Feed | null>(null);

  const showFeed = React.useCallback((feed: Feed) => {
    feedRef.current = feed;
    setLoad({ status: "ready", feed });
  }, []);

  const fetchFeed = React.useCallback(async () => {
    setLoad((current) => (current.status === "ready" ? current : { status: "loading" }));
    try {
      const feed = await api.feed();
      if (feed) showFeed(feed);
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) return onLogout();
      if (!feedRef.current) {
        setLoad({ status: "error", message: error instanceof Error ? error.message : String(error) });
      }
    }
  }, [api, onLogout, showFeed]);

  // Interactions: queued and sent in batches to POST /api/v1/events/ (api/events.ts).
  React.useEffect(() => {
    const queue = new EventQueue({ send: (body, keepalive) => api.events(body, keepalive), storage: sessionStorage });
    eventsRef.current = queue;
    queue.start();
    return () => {
      queue.stop();
      if (eventsRef.current === queue) eventsRef.current = null;
    };
  }, [api]);

  React.useEffect(() => {
    void fetchFeed();
    const liveFeed = new LiveFeed({
      api,
      current: () => feedRef.current,
      onFeed: showFeed,
      onState: (state, detail) => setLive({ state, detail }),
      onError: (error) => {
        if (error instanceof ApiError && error.status === 401) onLogout();
      },
      onPlans: (message) => plansListeners.current.forEach((listener) => listener(message)),
    });
    liveRef.current = liveFeed;
    liveFeed.start();
    return () => {
      liveFeed.stop();
      if (liveRef.current === liveFeed) liveRef.current = null;
    };
  }, [api, fetchFeed, onLogout, showFeed]);

  const options = React.useMemo(
    () => ({
      dismissed,
      dismiss: (offerId: string) =>
        setDismissed((current) => {
          const next = new Set(current).add(offerId);
          sessionStorage.setItem(DISMISSED_KEY, JSON.stringify([...next]));
          setNotice("Offer hidden.");
          return next;
        }),
      notify: (message: string) => setNotice(message),
      openPlanFinder: (product: string | undefined) => setFinder({ product, key: Date.now() }),
      report: (event: EventInput, reportOptions?: { urgent?: boolean }) => eventsRef.current?.record(event, reportOptions),
      selectPlan: async (choice: { product: string; plan: string }, node: SduiNode, scope: ActionScope) => {
        setNotice(`Choosing plan “${choice.plan}”…`);
        try {
          const selection = await api.selectPlan(choice);
          setNotice(
            `You chose plan “${selection.plan.code}” (${selection.plan.product}).` +
              (selection.forwarded ? ` ${selection.plan.product} has been told.` : " Your choice is saved."),
          );
          // A plan chosen from the feed is the conversion of that card.
          if (selection.created && scope.sectionId) {
            eventsRef.current?.record(
              { kind: "convert", section_id: scope.sectionId, component_id: node.id, offer_id: scope.offerId },
              { urgent: true },
            );
          }
        } catch (error) {
          if (error instanceof ApiError && error.status === 401) return onLogout();
          const reason = error instanceof Error ? error.message : String(error);
          setNotice(`Plan “${choice.plan}” could not be chosen: ${reason}`, "error");
        }
      },
    }),
    [dismissed, api, onLogout, setNotice],
  );

  const sendLive = React.useCallback((message: Record<string, unknown>) => liveRef.current?.send(message) ?? false, []);
  const subscribePlans = React.useCallback((listener: (message: PlansAnswer | PlansError) => void) => {
    plansListeners.current.add(listener);
    return () => void plansListeners.current.delete(listener);
  }, []);
  const choosePlan = React.useCallback(
    async (plan: Plan, requestId: string) => {
      setNotice(`Choosing “${plan.name}”…`);
      try {
        const selection = await api.selectPlan({ planId: plan.id, requestId });
        setNotice(
          `You chose “${plan.name}” (${selection.plan.product}).` +
            (selection.forwarded ? ` ${selection.plan.product} has been told.` : " Your choice is saved."),
        );
      } catch (error) {
        if (error instanceof ApiError && error.status === 401) return onLogout();
        setNotice(`“${plan.name}” could not be chosen: ${error instanceof Error ? error.message : String(error)}`, "error");
      }
    },
    [api, onLogout, setNotice],
  );

  return (
    <div className="mx-auto flex min-h-screen max-w-5xl flex-col gap-6 p-4 sm:p-6">
      <a
        href="#feed"
        className="sr-only focus:not-sr-only focus:absolute focus:left-2 focus:top-2 focus:rounded focus:bg-background focus:p-2"
      >
        Skip to your offers
      </a>
      <header className="flex flex-wrap items-center justify-between gap-3">
        <div>
          <h1 className="text-2xl font-bold tracking-tight">Home</h1>
          <p className="text-sm text-muted-foreground">
            Logged in as <strong data-testid="username">{username}</strong>
          </p>
        </div>
        <div className="flex items-center gap-3">
          <ConnectionIndicator state={live.state} detail={live.detail} />
          <Button variant="outline" size="sm" onClick={onLogout}>
            Log out
          </Button>
        </div>
      </header>
      <div role="status" aria-live="polite" className={cn(!notice.text && "sr-only")}>
        {notice.text ? (
          <Alert
            className="flex items-center justify-between gap-2"
            role="none"
            variant={notice.tone === "error" ? "destructive" : "default"}
            data-tone={notice.tone}
          >
            <AlertDescription data-testid="notice">{notice.text}</AlertDescription>
            <Button variant="ghost" size="sm" onClick={() => setNotice("")}>
              Close
            </Button>
          </Alert>
        ) : null}
      </div>
      {finder ? (
        <PlanFinder
          key={finder.key}
          api={api}
          product={finder.product}
          sendLive={sendLive}
          subscribe={subscribePlans}
          onChoose={choosePlan}
          onClose={() => setFinder(null)}
        />
      ) : null}
      <main
        id="feed"
        tabIndex={-1}
        aria-busy={load.status === "loading"}
        data-feed-version={load.status === "ready" ? load.feed.version : undefined}
        className="outline-none"
      >
        {load.status === "loading" ? <LoadingFeed /> : null}
        {load.status === "error" ? (
          <Alert variant="destructive" role="alert">
            <AlertTitle>Your home screen could not be loaded</AlertTitle>
            <AlertDescription className="flex flex-col items-start gap-2">
              <p>{load.message}</p>
              <Button variant="outline" size="sm" onClick={() => void fetchFeed()}>
                <RefreshCw aria-hidden="true" /> Try again
              </Button>
            </AlertDescription>
          </Alert>
        ) : null}
        {load.status === "ready" && load.feed.sections.length === 0 ? (
          <Alert data-testid="empty-feed">
            <AlertTitle>Nothing here yet</AlertTitle>
            <AlertDescription>
              There are no offers or deals for you right now. This page updates by itself when there are.
            </AlertDescription>
          </Alert>
        ) : null}
        {load.status === "ready" && load.feed.sections.length > 0 ? (
          <FeedView sections={load.feed.sections} options={options} />
        ) : null}
      </main>
    </div>
  );
}

function LoadingFeed() {
  return (
    <div className="flex flex-col gap-6" data-testid="loading">
      <span className="sr-only">Loading your home screen…</span>
      {[0, 1, 2].map((i) => (
        <div key={i} className="flex flex-col gap-3" aria-hidden="true">
          <Skeleton className="h-6 w-40" />
          <div className="flex gap-4">
            <Skeleton className="h-40 w-72" />
            <Skeleton className="hidden h-40 w-72 sm:block" />
          </div>
        </div>
      ))}
    </div>
  );
}

const LABEL: Record<LiveState, string> = {
  connecting: "Connecting…",
  live: "Live",
  reconnecting: "Reconnecting…",
  polling: "Checking every few seconds",
  offline: "Offline",
};
const DOT: Record<LiveState, string> = {
  connecting: "bg-amber-400",
  live: "bg-emerald-500",
  reconnecting: "bg-amber-500",
  polling: "bg-sky-500",
  offline: "bg-red-500",
};

export function ConnectionIndicator({ state, detail }: { state: LiveState; detail?: string }) {
  return (
    <p
      role="status"
      aria-live="polite"
      data-testid="connection"
      data-state={state}
      title={detail}
      className="flex items-center gap-2 rounded-full border px-3 py-1 text-xs font-medium"
    >
      <span aria-hidden="true" className={cn("size-2 rounded-full", DOT[state])} />
      <span>
        Updates: {LABEL[state]}
        {detail ? <span className="sr-only"> ({detail})</span> : null}
      </span>
    </p>
  );
}
