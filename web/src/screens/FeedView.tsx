/** The sections of a feed, drawn by the SDUI renderer; shared by the home screen and the admin preview. */
import * as React from "react";

import { Badge } from "@/components/ui/badge";
import { type RenderOptions, SduiNodeView, SduiProvider, SduiScope, useImpression } from "@/sdui/render";
import type { FeedSection } from "@/sdui/types";

export { forgetImpressions } from "@/sdui/render";

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

function SectionBlock({ section }: { section: FeedSection }) {
  const scope = React.useMemo(() => ({ sectionId: section.id }), [section.id]);
  return (
    <SduiScope value={scope}>
      <SectionBody section={section} scope={scope} />
    </SduiScope>
  );
}

function SectionBody({ section, scope }: { section: FeedSection; scope: { sectionId: string } }) {
  const ref = React.useRef<HTMLDivElement>(null);
  // Impressions: reported the first time half of a section (or of a card in it) is on screen.
  useImpression(ref, section.component, scope);
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
