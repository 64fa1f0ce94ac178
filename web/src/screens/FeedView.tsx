/** The sections of a feed, drawn by the SDUI renderer; shared by the home screen and the admin preview. */
import * as React from "react";

import { Badge } from "@/components/ui/badge";
import { recordInteraction } from "@/sdui/actions";
import { type RenderOptions, SduiNodeView, SduiProvider } from "@/sdui/render";
import type { FeedSection } from "@/sdui/types";

export function FeedView({ sections, options }: { sections: FeedSection[]; options: RenderOptions }) {
  return (
    <SduiProvider value={options}>
      <div className="flex flex-col gap-8">
        {sections.map((section) => (
          <SectionBlock key={section.id} section={section} />
        ))}
      </div>
    </SduiProvider>
  );
}

const seen = new Set<string>();

/** Forget which sections were seen (on logout: the next user's impressions count again). */
export function forgetImpressions(): void {
  seen.clear();
}

function SectionBlock({ section }: { section: FeedSection }) {
  const ref = React.useRef<HTMLDivElement>(null);
  // Impressions: recorded the first time half of a section is on screen (kept until the events API exists).
  React.useEffect(() => {
    const element = ref.current;
    if (!element || typeof IntersectionObserver === "undefined") return;
    const observer = new IntersectionObserver(
      (entries) => {
        if (entries.some((e) => e.isIntersecting) && !seen.has(section.id)) {
          seen.add(section.id);
          recordInteraction("impression", section.component, { section: section.id, product: section.product });
        }
      },
      { threshold: 0.5 },
    );
    observer.observe(element);
    return () => observer.disconnect();
  }, [section.id, section.product, section.component]);
  return (
    <div
      ref={ref}
      data-section-id={section.id}
      data-product={section.product}
      data-source={section.source}
      className="flex flex-col gap-2"
    >
      {section.stale ? (
        <Badge variant="warning" className="w-fit" title={section.as_of ? `As of ${section.as_of}` : undefined}>
          May be out of date
        </Badge>
      ) : null}
      <SduiNodeView node={section.component} />
    </div>
  );
}
