/**
 * What the client does for each SDUI action (docs/sdui.md, "Actions"; docs/web-client.md).
 *
 * `open_url` and `deeplink` are links rendered by the renderer itself; the others call the
 * handler the screen provides. The plan finder and the interaction events API do not exist on
 * the server yet: the client says so on screen and keeps the interactions in `interactionLog`
 * (and on the console), ready for `POST /api/v1/events/`.
 */
import type { SduiAction, SduiNode } from "./types";

export const KNOWN_ACTIONS = ["open_url", "deeplink", "dismiss", "select_plan", "open_plan_finder", "track"] as const;

export interface Interaction {
  kind: "click" | "dismiss" | "select_plan" | "open_plan_finder" | "track" | "deeplink" | "impression";
  node_id?: string;
  detail: Record<string, unknown>;
  at: string;
}

/** Interactions recorded until the events API exists (newest last, at most 200). */
export const interactionLog: Interaction[] = [];

export function recordInteraction(kind: Interaction["kind"], node: SduiNode | undefined, detail: Record<string, unknown>): Interaction {
  const entry: Interaction = { kind, node_id: node?.id, detail, at: new Date().toISOString() };
  interactionLog.push(entry);
  if (interactionLog.length > 200) interactionLog.shift();
  console.info("[homeservice] interaction (not sent: the events API does not exist yet)", entry);
  return entry;
}

export interface ActionHandlers {
  /** `dismiss`: hide the offer. */
  dismiss(offerId: string, node: SduiNode): void;
  /** `select_plan`, `open_plan_finder`, `track`, `deeplink`: what to tell the user, if anything. */
  notify(message: string): void;
}

/** Perform a non-link action (links are plain anchors; their clicks are only recorded). */
export function performAction(action: SduiAction, node: SduiNode, handlers: ActionHandlers): void {
  switch (action.type) {
    case "dismiss":
      recordInteraction("dismiss", node, { offer_id: action.offer_id });
      if (action.offer_id) handlers.dismiss(action.offer_id, node);
      return;
    case "select_plan":
      recordInteraction("select_plan", node, { product: action.product, plan: action.plan });
      handlers.notify(
        `Plan “${action.plan}” of ${action.product} chosen. Plan selection is not available online yet: the choice was noted.`,
      );
      return;
    case "open_plan_finder":
      recordInteraction("open_plan_finder", node, { product: action.product ?? null });
      handlers.notify(
        `The plan finder${action.product ? ` for ${action.product}` : ""} is not available yet.`,
      );
      return;
    case "track":
      recordInteraction("track", node, { event: action.event, properties: action.properties ?? {} });
      return;
    case "deeplink":
      recordInteraction("deeplink", node, { uri: action.uri });
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
