import * as React from "react";

import { ApiClient, loadSession, saveSession, type Session } from "@/api/client";
import { HomeScreen } from "@/screens/Home";
import { forgetImpressions } from "@/screens/FeedView";
import { LoginScreen } from "@/screens/Login";
import { PreviewScreen, previewParams } from "@/screens/Preview";

export default function App() {
  const preview = previewParams(window.location.search);
  const [session, setSession] = React.useState<Session | null>(() => loadSession());
  const update = React.useCallback((next: Session | null) => {
    saveSession(next);
    setSession(next);
  }, []);
  const api = React.useMemo(() => (session ? new ApiClient(session, update) : null), [session?.username, update]); // eslint-disable-line react-hooks/exhaustive-deps

  const logout = React.useCallback(() => {
    void api?.logout(); // revokes the refresh token; the session is forgotten at once
    forgetImpressions();
    update(null);
  }, [api, update]);

  if (preview) return <PreviewScreen params={preview} />;
  if (!session || !api) return <LoginScreen onLogin={update} />;
  // `logout` and `api` stay the same across token refreshes, so the live connection is kept.
  return <HomeScreen api={api} username={session.username} onLogout={logout} />;
}
