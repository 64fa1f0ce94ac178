/** Applying live messages to the feed held by the client (docs/websocket.md, "Server → client"). */
import type { Feed, FeedSection } from "@/sdui/types";

export interface FeedUpdated {
  type: "feed.updated";
  version: string;
  sections: FeedSection[];
  removed: string[];
  order: string[];
}

/** Replace or add each section by id, drop `removed`, arrange by `order`, remember `version`. */
export function applyUpdate(feed: Feed, update: FeedUpdated): Feed {
  const byId = new Map(feed.sections.map((section) => [section.id, section]));
  for (const section of update.sections) byId.set(section.id, section);
  for (const id of update.removed) byId.delete(id);
  const sections = update.order.map((id) => byId.get(id)).filter((s): s is FeedSection => s !== undefined);
  return { ...feed, version: update.version, sections };
}

/** The `resume` message for what the client holds. */
export function resumeMessage(feed: Feed) {
  return {
    type: "resume",
    version: feed.version,
    sections: feed.sections.filter((s) => s.version).map((s) => ({ id: s.id, version: s.version as string })),
  };
}
