/**
 * What the client does for each SDUI action (docs/sdui.md, "Actions"; docs/web-client.md).
 *
 * `open_url` and `deeplink` are links rendered by the renderer itself; the others call the
 * handlers the screen provides. Every action a user takes is also reported as an interaction
 * (`report`: the home screen queues it for `POST /api/v1/events/`, api/events.ts), with the
 * section and card it was in; `interactionLog` keeps the last ones for debugging.
 */
import type { EventInput } from "@/api/events";

import type { SduiAction, SduiNode } from "./types";

export const KNOWN_ACTIONS = ["open_url", "deeplink", "dismiss", "select_plan", "open_plan_finder", "track"] as const;

/** Where a node is drawn: its feed section and the card (offer) around it, when known. */
export interface ActionScope {
  sectionId?: string;
  cardId?: string;
  offerId?: string;
}

export interface Interaction extends EventInput {
  action?: string;
  at: string;
}

/** The interactions reported in this page (newest last, at most 200). */
export const interactionLog: Interaction[] = [];

export interface ActionHandlers {
  /** `dismiss`: hide the offer at once (the dismissal itself is reported with `report`). */
  dismiss(offerId: string, node: SduiNode): void;
  /** What to tell the user, if anything. */
  notify(message: string): void;
  /** `select_plan`: record the choice (POST /api/v1/plans/select/); the control waits for it. */
  selectPlan?(choice: { product: string; plan: string }, node: SduiNode, scope: ActionScope): Promise<unknown> | void;
  /** `open_plan_finder`. Without it, the user is told the plan finder is not in this client. */
  openPlanFinder?(product: string | undefined): void;
  /** An interaction to send to the events API (impressions, clicks, dismissals, conversions). */
  report?(event: EventInput, options?: { urgent?: boolean }): void;
}

/** Report an interaction with `node` in `scope` (nothing without a section: a preview, a test). */
export function reportInteraction(
  handlers: Pick<ActionHandlers, "report">,
  kind: EventInput["kind"],
  node: SduiNode | undefined,
  scope: ActionScope,
  extra: { offerId?: string; action?: string; urgent?: boolean } = {},
): void {
  const offerId = extra.offerId ?? scope.offerId;
  const event: EventInput = { kind, section_id: scope.sectionId ?? "", component_id: node?.id, offer_id: offerId || undefined };
  interactionLog.push({ ...event, action: extra.action, at: new Date().toISOString() });
  if (interactionLog.length > 200) interactionLog.shift();
  if (scope.sectionId) handlers.report?.(event, { urgent: extra.urgent });
}

/** Perform a non-link action (links are plain anchors; their clicks are only reported). */
export function performAction(
  action: SduiAction,
  node: SduiNode,
  handlers: ActionHandlers,
  scope: ActionScope = {},
): Promise<unknown> | void {
  switch (action.type) {
    case "dismiss":
      reportInteraction(handlers, "dismiss", node, scope, { offerId: action.offer_id, action: "dismiss", urgent: true });
      if (action.offer_id) handlers.dismiss(action.offer_id, node);
      return;
    case "select_plan":
      reportInteraction(handlers, "click", node, scope, { action: "select_plan" });
      if (!action.plan || !action.product) return handlers.notify("This plan cannot be chosen: the offer names no plan.");
      if (!handlers.selectPlan) return handlers.notify(`Plan “${action.plan}” of ${action.product} chosen.`);
      return handlers.selectPlan({ product: action.product, plan: action.plan }, node, scope);
    case "open_plan_finder":
      reportInteraction(handlers, "click", node, scope, { action: "open_plan_finder" });
      if (handlers.openPlanFinder) return handlers.openPlanFinder(action.product);
      handlers.notify(`The plan finder${action.product ? ` for ${action.product}` : ""} is not available here.`);
      return;
    case "track":
      reportInteraction(handlers, "click", node, scope, { action: `track:${action.event ?? ""}` });
      return;
    case "deeplink":
      reportInteraction(handlers, "click", node, scope, { action: "deeplink" });
      handlers.notify(`This opens ${action.uri} in the app.`);
      return;
    default:
      console.warn("[homeservice] unknown action type, ignored", action);
  }
}

/** A link's href, or null when the URL is not safe to put in an anchor. */
export function safeHref(url: unknown): string | null {
  if (typeof url !== "string" || !url) return null;
  if (/^\s*(javascript|data|vbscript):/i.test(url)) return null;
  return url;
}
