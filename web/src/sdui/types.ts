/** The SDUI document as GET /api/v1/home/ and /ws/home/ send it (docs/sdui.md, docs/sdui-schema.json). */

/** The component catalogue version this client renders (sent as X-SDUI-Version and ?sdui=). */
export const CATALOGUE_VERSION = 2;

export type ActionType = "open_url" | "deeplink" | "dismiss" | "select_plan" | "open_plan_finder" | "track";

export interface SduiAction {
  type: ActionType | string;
  url?: string;
  uri?: string;
  offer_id?: string;
  product?: string;
  plan?: string;
  event?: string;
  properties?: Record<string, unknown>;
}

export interface SduiNode {
  type: string;
  id?: string;
  props?: Record<string, unknown>;
  children?: SduiNode[];
  action?: SduiAction;
}

export interface FeedSection {
  id: string;
  product: string;
  source: "personalised" | "generic";
  stale: boolean;
  as_of: string | null;
  version?: string;
  component: SduiNode;
}

export interface Feed {
  schema_version: number;
  version: string;
  generated_at: string;
  sections: FeedSection[];
}
