/**
 * Preview mode, for the template editor in the admin: `/?preview=<template pk>&user=<demo user>&side=draft|published`.
 *
 * Reads the admin's preview (`/admin/ui_templates/componenttemplate/<pk>/preview/?format=json`,
 * the staff session cookie authenticates it; the server renders the feed with recommendations'
 * `preview_feed`) and draws one side with the same renderer as the home screen. The editor page
 * sends `{type: "homeservice.preview", tree, editor}` by postMessage as the marketer edits: the tree is
 * posted to the same URL and the draft drawn as it would look, before it is saved.
 */
import * as React from "react";

import { Alert, AlertDescription, AlertTitle } from "@/components/ui/alert";
import type { Feed } from "@/sdui/types";

import { FeedView } from "./FeedView";

export interface PreviewParams {
  template: string;
  user: string;
  side: "draft" | "published";
}

export function previewParams(search: string): PreviewParams | null {
  const params = new URLSearchParams(search);
  const template = params.get("preview");
  if (!template || !/^\d+$/.test(template)) return null;
  return {
    template,
    user: params.get("user") ?? "",
    side: params.get("side") === "published" ? "published" : "draft",
  };
}

interface PreviewResult {
  draft?: Feed;
  published?: Feed;
  error?: string;
  issues?: { path: string; message: string }[];
}

function csrfToken(): string {
  return document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/)?.[1] ?? "";
}

export function PreviewScreen({ params }: { params: PreviewParams }) {
  const [result, setResult] = React.useState<PreviewResult | null>(null);
  const [error, setError] = React.useState("");
  const [notice, setNotice] = React.useState("");
  const url = `/admin/ui_templates/componenttemplate/${params.template}/preview/?format=json&user=${encodeURIComponent(params.user)}`;

  const load = React.useCallback(
    async (tree?: unknown, editor?: string) => {
      try {
        const response = await fetch(url, {
          method: tree === undefined ? "GET" : "POST",
          credentials: "same-origin",
          headers:
            tree === undefined
              ? { Accept: "application/json" }
              : { Accept: "application/json", "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
          body: tree === undefined ? undefined : JSON.stringify({ tree, editor: editor ?? "raw" }),
        });
        if (response.redirected || response.status === 302 || response.status === 403) {
          throw new Error("Log in to the admin to see the preview.");
        }
        if (!response.ok) throw new Error(`The preview could not be loaded (${response.status}).`);
        setResult((await response.json()) as PreviewResult);
        setError("");
      } catch (exc) {
        setError(exc instanceof Error ? exc.message : String(exc));
      }
    },
    [url],
  );

  React.useEffect(() => {
    void load();
    const onMessage = (event: MessageEvent) => {
      if (event.origin !== window.location.origin) return;
      const data = event.data as { type?: string; tree?: unknown; editor?: string };
      if (data?.type === "homeservice.preview") void load(data.tree, data.editor);
    };
    window.addEventListener("message", onMessage);
    return () => window.removeEventListener("message", onMessage);
  }, [load]);

  const feed = result?.[params.side];
  return (
    <main
      className="flex flex-col gap-4 p-4"
      aria-label={`${params.side === "draft" ? "Draft" : "Published"} preview for ${params.user}`}
      data-preview-side={params.side}
      data-feed-version={feed?.version}
    >
      {error || result?.error ? (
        <Alert variant="destructive" role="alert">
          <AlertTitle>No preview</AlertTitle>
          <AlertDescription>{error || result?.error}</AlertDescription>
        </Alert>
      ) : null}
      {params.side === "draft" && result?.issues?.length ? (
        <Alert variant="destructive" role="alert">
          <AlertTitle>The draft cannot be published yet</AlertTitle>
          <AlertDescription>
            <ul className="list-disc pl-4">
              {result.issues.map((issue) => (
                <li key={issue.path + issue.message}>
                  <code>{issue.path}</code>: {issue.message}
                </li>
              ))}
            </ul>
          </AlertDescription>
        </Alert>
      ) : null}
      {notice ? <p role="status">{notice}</p> : null}
      {feed ? (
        <FeedView
          sections={feed.sections}
          options={{ dismissed: new Set(), dismiss: () => setNotice("Dismiss (not in a preview)."), notify: setNotice }}
        />
      ) : !error && !result?.error ? (
        <p aria-busy="true">Loading the preview…</p>
      ) : null}
    </main>
  );
}
