/**
 * The SDUI renderer: one component tree (docs/sdui.md) to React, recursively.
 *
 * Every type of the component catalogue (ui_templates/catalogue.py, version 2) has a branch in
 * `renderNode`; every action type is wired in `ActionControl` and ./actions.ts. A type this client
 * does not know (the server never sends one to a client that declared its version, but a newer
 * server might) falls back as the catalogue's rules say: its children, if any, are rendered in a
 * plain vertical stack, and a node without children is left out; either way it is logged once.
 * The home screen and the admin's visual preview both render through this module.
 */
import * as React from "react";
import { ExternalLink, Smartphone } from "lucide-react";

import { Badge } from "@/components/ui/badge";
import { Button, buttonVariants } from "@/components/ui/button";
import { Card, CardContent, CardFooter } from "@/components/ui/card";
import { Separator } from "@/components/ui/separator";
import { cn } from "@/lib/utils";

import { type ActionHandlers, type ActionScope, performAction, reportInteraction, safeHref } from "./actions";
import type { SduiAction, SduiNode } from "./types";

export const COMPONENT_TYPES = [
  "stack",
  "row",
  "section",
  "carousel",
  "card",
  "text",
  "image",
  "button",
  "badge",
  "price",
  "list",
  "divider",
  "spacer",
  "countdown",
  "banner",
] as const;

export interface RenderOptions extends ActionHandlers {
  /** Offer ids the user dismissed: cards with these `offer_id`s are not drawn. */
  dismissed: ReadonlySet<string>;
}

const noop: RenderOptions = { dismissed: new Set(), dismiss: () => {}, notify: () => {} };
const RenderContext = React.createContext<RenderOptions>(noop);

export function SduiProvider({ value, children }: { value: RenderOptions; children: React.ReactNode }) {
  return <RenderContext.Provider value={value}>{children}</RenderContext.Provider>;
}

const ScopeContext = React.createContext<ActionScope>({});

/** The feed section (and, inside a card, the card and its offer) interactions are reported for. */
export function SduiScope({ value, children }: { value: ActionScope; children: React.ReactNode }) {
  const outer = React.useContext(ScopeContext);
  const merged = React.useMemo(() => ({ ...outer, ...value }), [outer, value.sectionId, value.cardId, value.offerId]); // eslint-disable-line react-hooks/exhaustive-deps
  return <ScopeContext.Provider value={merged}>{children}</ScopeContext.Provider>;
}

const impressions = new Set<string>();

/** Forget which sections and cards were seen (on logout: the next user's impressions count again). */
export function forgetImpressions(): void {
  impressions.clear();
}

/**
 * Report an impression the first time half of `ref`'s element is on screen (once per page and
 * user for each section and card). Nothing without a section, a node id or an IntersectionObserver.
 */
export function useImpression(ref: React.RefObject<Element | null>, node: SduiNode, scope: ActionScope): void {
  const handlers = React.useContext(RenderContext);
  const key = `${scope.sectionId ?? ""}|${node.id ?? ""}`;
  React.useEffect(() => {
    const element = ref.current;
    if (!element || !scope.sectionId || !node.id || typeof IntersectionObserver === "undefined" || impressions.has(key)) return;
    const observer = new IntersectionObserver(
      (entries) => {
        if (!entries.some((e) => e.isIntersecting) || impressions.has(key)) return;
        impressions.add(key);
        observer.disconnect();
        reportInteraction(handlers, "impression", node, scope);
      },
      { threshold: 0.5 },
    );
    observer.observe(element);
    return () => observer.disconnect();
  }, [key, handlers, node, scope, ref]);
}

/** Render one node (and its subtree). */
export function SduiNodeView({ node }: { node: SduiNode }) {
  return <>{renderNode(node)}</>;
}

function str(value: unknown): string {
  return typeof value === "string" ? value : value == null ? "" : String(value);
}

function kids(node: SduiNode): React.ReactNode {
  return (node.children ?? []).map((child, index) => (
    <React.Fragment key={child.id ?? index}>{renderNode(child)}</React.Fragment>
  ));
}

const GAP: Record<string, string> = { none: "gap-0", small: "gap-2", medium: "gap-4", large: "gap-6" };
const ALIGN: Record<string, string> = {
  start: "justify-start",
  center: "justify-center",
  end: "justify-end",
  between: "justify-between",
};

const warned = new Set<string>();
function warnOnce(kind: string, type: string) {
  if (warned.has(`${kind}:${type}`)) return;
  warned.add(`${kind}:${type}`);
  console.warn(`[homeservice] unknown SDUI ${kind} "${type}": rendered as its fallback`);
}

export function renderNode(node: SduiNode): React.ReactNode {
  const props = node.props ?? {};
  const common = { "data-sdui-type": node.type, "data-sdui-id": node.id };
  switch (node.type) {
    case "stack":
      return (
        <div {...common} className={cn("flex flex-col", GAP[str(props.gap)] ?? "gap-3")}>
          {kids(node)}
        </div>
      );
    case "row":
      return (
        <div
          {...common}
          className={cn("flex flex-row flex-wrap items-center", GAP[str(props.gap)] ?? "gap-3", ALIGN[str(props.align)])}
        >
          {kids(node)}
        </div>
      );
    case "section":
      return <SectionView node={node} />;
    case "carousel":
      return <CarouselView node={node} />;
    case "card":
      return <CardView node={node} />;
    case "text":
      return <TextView node={node} />;
    case "image":
      return <ImageView node={node} />;
    case "button":
      return <ButtonView node={node} />;
    case "badge":
      return (
        <Badge {...common} variant={TONE[str(props.tone)] ?? "secondary"} className="w-fit">
          {str(props.label)}
        </Badge>
      );
    case "price":
      return <PriceView node={node} />;
    case "list":
      return <ListView node={node} />;
    case "divider":
      return <Separator {...common} decorative={false} className="my-2" />;
    case "spacer":
      return <div {...common} aria-hidden="true" className={SPACER[str(props.size)] ?? "h-4"} />;
    case "countdown":
      return <CountdownView node={node} />;
    case "banner":
      return <BannerView node={node} />;
    default:
      warnOnce("component", node.type);
      if (!node.children?.length) return null;
      return (
        <div {...common} data-sdui-fallback="stack" className="flex flex-col gap-3">
          {kids(node)}
        </div>
      );
  }
}

const SPACER: Record<string, string> = { small: "h-2", medium: "h-4", large: "h-8" };
const TONE: Record<string, "secondary" | "info" | "success" | "warning" | "destructive" | "promo"> = {
  neutral: "secondary",
  info: "info",
  success: "success",
  warning: "warning",
  danger: "destructive",
  promo: "promo",
};
const BANNER_TONE: Record<string, string> = {
  neutral: "bg-secondary text-secondary-foreground",
  info: "bg-sky-50 text-sky-950 border-sky-200",
  success: "bg-emerald-50 text-emerald-950 border-emerald-200",
  warning: "bg-amber-50 text-amber-950 border-amber-200",
  danger: "bg-red-50 text-red-950 border-red-200",
  promo: "bg-fuchsia-50 text-fuchsia-950 border-fuchsia-200",
};

function SectionView({ node }: { node: SduiNode }) {
  const headingId = React.useId();
  const props = node.props ?? {};
  return (
    <section data-sdui-type="section" data-sdui-id={node.id} aria-labelledby={headingId} className="flex flex-col gap-3">
      <header>
        <h2 id={headingId} className="text-xl font-semibold tracking-tight">
          {str(props.title)}
        </h2>
        {props.subtitle ? <p className="text-sm text-muted-foreground">{str(props.subtitle)}</p> : null}
      </header>
      {kids(node)}
    </section>
  );
}

function CarouselView({ node }: { node: SduiNode }) {
  const children = node.children ?? [];
  return (
    <div
      data-sdui-type="carousel"
      data-sdui-id={node.id}
      role="region"
      aria-roledescription="carousel"
      aria-label={`${children.length} items, scroll sideways`}
      tabIndex={0}
      className="relative -mx-1 overflow-x-auto px-1 pb-2 outline-none focus-visible:ring-[3px] focus-visible:ring-ring rounded-md snap-x"
    >
      <ul className="flex gap-4">
        {children.map((child, index) => (
          <li key={child.id ?? index} className="relative w-[85%] max-w-xs shrink-0 snap-start sm:w-72">
            {renderNode(child)}
          </li>
        ))}
      </ul>
    </div>
  );
}

function CardView({ node }: { node: SduiNode }) {
  const { dismissed } = React.useContext(RenderContext);
  const offerId = str(node.props?.offer_id);
  const scope = React.useMemo(() => ({ cardId: node.id, offerId: offerId || undefined }), [node.id, offerId]);
  if (offerId && dismissed.has(offerId)) return null;
  return (
    <SduiScope value={scope}>
      <CardBody node={node} offerId={offerId} />
    </SduiScope>
  );
}

function CardBody({ node, offerId }: { node: SduiNode; offerId: string }) {
  const ref = React.useRef<HTMLDivElement>(null);
  useImpression(ref, node, React.useContext(ScopeContext));
  return (
    <Card
      ref={ref}
      data-sdui-type="card"
      data-sdui-id={node.id}
      data-offer-id={offerId || undefined}
      role="article"
      className="flex h-full flex-col"
    >
      <CardContent className="flex flex-1 flex-col gap-2 p-4">{kids(node)}</CardContent>
      {node.action ? (
        <CardFooter className="p-4 pt-0">
          <ActionControl action={node.action} node={node} label={defaultActionLabel(node.action)} variant="outline" />
        </CardFooter>
      ) : null}
    </Card>
  );
}

function defaultActionLabel(action: SduiAction): string {
  switch (action.type) {
    case "open_url":
      return "Open";
    case "deeplink":
      return "Open in the app";
    case "dismiss":
      return "Not interested";
    case "select_plan":
      return "Choose this plan";
    case "open_plan_finder":
      return "Find a plan";
    default:
      return "More";
  }
}

function TextView({ node }: { node: SduiNode }) {
  const props = node.props ?? {};
  const text = str(props.text);
  const common = { "data-sdui-type": "text", "data-sdui-id": node.id };
  switch (str(props.style)) {
    case "title":
      return (
        <h3 {...common} className="text-base font-semibold leading-snug">
          {text}
        </h3>
      );
    case "subtitle":
      return (
        <p {...common} className="text-sm font-medium">
          {text}
        </p>
      );
    case "caption":
      return (
        <p {...common} className="text-xs text-muted-foreground">
          {text}
        </p>
      );
    default:
      return (
        <p {...common} className="text-sm text-muted-foreground">
          {text}
        </p>
      );
  }
}

const ASPECT: Record<string, string> = {
  "1:1": "aspect-square",
  "4:3": "aspect-[4/3]",
  "16:9": "aspect-video",
  "3:1": "aspect-[3/1]",
};

function ImageView({ node }: { node: SduiNode }) {
  const props = node.props ?? {};
  const src = safeHref(props.url);
  if (!src) return null;
  return (
    <img
      data-sdui-type="image"
      data-sdui-id={node.id}
      src={src}
      alt={str(props.alt)}
      loading="lazy"
      className={cn("w-full rounded-md bg-muted object-cover", ASPECT[str(props.aspect_ratio)])}
    />
  );
}

function ButtonView({ node }: { node: SduiNode }) {
  const props = node.props ?? {};
  if (!node.action) return null;
  const style = str(props.style);
  const variant = style === "secondary" ? "secondary" : style === "link" ? "link" : "default";
  return <ActionControl action={node.action} node={node} label={str(props.label)} variant={variant} />;
}

type Variant = "default" | "secondary" | "link" | "outline";

/** The control for an action: an anchor for `open_url` and `deeplink`, a button otherwise. */
export function ActionControl({
  action,
  node,
  label,
  variant,
}: {
  action: SduiAction;
  node: SduiNode;
  label: string;
  variant: Variant;
}) {
  const handlers = React.useContext(RenderContext);
  const scope = React.useContext(ScopeContext);
  const [busy, setBusy] = React.useState(false);
  const className = cn(buttonVariants({ variant, size: "sm" }), variant === "link" && "px-0", "w-fit");
  const common = { "data-sdui-type": node.type, "data-sdui-id": node.id, "data-action": action.type };
  if (action.type === "open_url") {
    const href = safeHref(action.url);
    if (!href) return null;
    return (
      <a
        {...common}
        href={href}
        target="_blank"
        rel="noopener noreferrer"
        className={className}
        onClick={() => reportInteraction(handlers, "click", node, scope, { action: "open_url" })}
      >
        {label}
        <ExternalLink aria-hidden="true" />
        <span className="sr-only">(opens in a new tab)</span>
      </a>
    );
  }
  if (action.type === "deeplink") {
    const href = safeHref(action.uri);
    if (!href) return null;
    // A screen of the native app: shown as such, with its address; the browser does not follow it.
    return (
      <a
        {...common}
        href={href}
        title={`App link: ${href}`}
        className={className}
        onClick={(event) => {
          event.preventDefault();
          void performAction(action, node, handlers, scope);
        }}
      >
        <Smartphone aria-hidden="true" />
        {label}
        <span className="sr-only">(app link {href})</span>
      </a>
    );
  }
  if (!["dismiss", "select_plan", "open_plan_finder", "track"].includes(action.type)) {
    warnOnce("action", action.type);
    return (
      <Button {...common} variant={variant} size="sm" className={className} disabled>
        {label}
      </Button>
    );
  }
  return (
    <Button
      {...common}
      type="button"
      variant={variant}
      size="sm"
      className={className}
      disabled={busy}
      aria-busy={busy || undefined}
      onClick={() => {
        // A select_plan waits for the server: one choice per click, not one per impatient click.
        const pending = performAction(action, node, handlers, scope);
        if (pending instanceof Promise) {
          setBusy(true);
          void pending.finally(() => setBusy(false));
        }
      }}
    >
      {label}
    </Button>
  );
}

export function formatMoney(amount: string, currency: string): string {
  const value = Number(amount);
  if (!Number.isFinite(value)) return `${currency} ${amount}`.trim();
  try {
    return new Intl.NumberFormat("en-GB", { style: "currency", currency }).format(value);
  } catch {
    return `${currency} ${amount}`.trim();
  }
}

function PriceView({ node }: { node: SduiNode }) {
  const props = node.props ?? {};
  const currency = str(props.currency);
  const period = str(props.period);
  const now = formatMoney(str(props.amount), currency);
  const before = props.previous_amount ? formatMoney(str(props.previous_amount), currency) : "";
  return (
    <p data-sdui-type="price" data-sdui-id={node.id} className="flex items-baseline gap-2">
      <span className="text-lg font-bold">{now}</span>
      {period ? <span className="text-sm text-muted-foreground">/ {period}</span> : null}
      {before ? (
        <s className="text-sm text-muted-foreground">
          <span className="sr-only">was </span>
          {before}
        </s>
      ) : null}
    </p>
  );
}

function ListView({ node }: { node: SduiNode }) {
  const title = str(node.props?.title);
  const headingId = React.useId();
  const children = node.children ?? [];
  return (
    <div data-sdui-type="list" data-sdui-id={node.id} className="flex flex-col gap-2">
      {title ? (
        <h3 id={headingId} className="text-sm font-semibold">
          {title}
        </h3>
      ) : null}
      <ul aria-labelledby={title ? headingId : undefined} className="divide-y rounded-md border">
        {children.map((child, index) => (
          <li key={child.id ?? index} className="p-3">
            {renderNode(child)}
          </li>
        ))}
      </ul>
    </div>
  );
}

/** "2 days 3 h", "3 h 12 min", "4 min 10 s", or "ended". */
export function timeLeft(endsAt: Date, now: Date): string {
  const seconds = Math.floor((endsAt.getTime() - now.getTime()) / 1000);
  if (!Number.isFinite(seconds)) return "";
  if (seconds <= 0) return "ended";
  const days = Math.floor(seconds / 86400);
  const hours = Math.floor((seconds % 86400) / 3600);
  const minutes = Math.floor((seconds % 3600) / 60);
  if (days) return `${days} day${days === 1 ? "" : "s"} ${hours} h`;
  if (hours) return `${hours} h ${minutes} min`;
  return `${minutes} min ${seconds % 60} s`;
}

function CountdownView({ node }: { node: SduiNode }) {
  const props = node.props ?? {};
  const endsAt = React.useMemo(() => new Date(str(props.ends_at)), [props.ends_at]);
  const [now, setNow] = React.useState(() => new Date());
  React.useEffect(() => {
    const timer = window.setInterval(() => setNow(new Date()), 1000);
    return () => window.clearInterval(timer);
  }, []);
  const valid = !Number.isNaN(endsAt.getTime());
  const left = valid ? timeLeft(endsAt, now) : "";
  return (
    <p data-sdui-type="countdown" data-sdui-id={node.id} className="text-xs font-medium text-amber-700">
      {str(props.label) || "Ends"}{" "}
      {valid ? (
        <time dateTime={endsAt.toISOString()} title={endsAt.toUTCString()}>
          {left === "ended" ? "— ended" : `in ${left}`}
        </time>
      ) : (
        str(props.ends_at)
      )}
    </p>
  );
}

function BannerView({ node }: { node: SduiNode }) {
  const props = node.props ?? {};
  const headingId = React.useId();
  const image = safeHref(props.image_url);
  return (
    <aside
      data-sdui-type="banner"
      data-sdui-id={node.id}
      aria-labelledby={headingId}
      className={cn("flex flex-col gap-3 rounded-xl border p-4 sm:flex-row sm:items-center", BANNER_TONE[str(props.tone)] ?? BANNER_TONE.promo)}
    >
      {image ? <img src={image} alt="" className="h-20 w-full rounded-md object-cover sm:w-32" /> : null}
      <div className="flex flex-1 flex-col gap-1">
        <h3 id={headingId} className="font-semibold">
          {str(props.title)}
        </h3>
        {props.body ? <p className="text-sm">{str(props.body)}</p> : null}
      </div>
      {node.action ? (
        <ActionControl action={node.action} node={node} label={defaultActionLabel(node.action)} variant="default" />
      ) : null}
    </aside>
  );
}
