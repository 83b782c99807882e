import { Center, Loader } from "@mantine/core";
import { useQueryClient } from "@tanstack/react-query";
import { useEffect } from "react";
import { setUnauthenticatedHandler } from "./api/client";
import { signedOut, useMe, useOrgs } from "./api/queries";
import { AppLayout } from "./components/AppLayout";
import { Redirect, matchPath, useLocation } from "./lib/router";
import { AcceptInvitationPage } from "./pages/AcceptInvitationPage";
import { ChangePasswordPage } from "./pages/ChangePasswordPage";
import { LoginPage } from "./pages/LoginPage";
import { NoOrgPage } from "./pages/NoOrgPage";
import { OrgRoutes } from "./pages/OrgRoutes";

const Loading = () => (
  <Center h="100vh">
    <Loader aria-label="Loading" />
  </Center>
);

/** Top-level routing: sign-in, first-run password change, then the org pages. */
export function App() {
  const qc = useQueryClient();
  const { pathname } = useLocation();
  const me = useMe();
  const signedIn = !!me.data?.user;
  // A generated or reset password opens nothing else until it is changed.
  const orgs = useOrgs(signedIn && !me.data?.user?.mustChangePassword);

  useEffect(() => {
    setUnauthenticatedHandler(() => {
      // The session ended: nothing of its user's stays for whoever signs in next on this tab.
      signedOut(qc);
    });
    return () => setUnauthenticatedHandler(null);
  }, [qc]);

  const invite = matchPath("/invite/:token", pathname);
  if (invite) return <AcceptInvitationPage token={invite.token} />;
  if (me.isLoading) return <Loading />;
  if (!signedIn) return <LoginPage />;
  if (pathname === "/login") return <Redirect to="/" />;
  if (me.data?.user?.mustChangePassword) return <ChangePasswordPage firstRun />;
  if (orgs.isLoading) return <Loading />;

  const orgList = orgs.data ?? [];
  const m = /^\/o\/([^/]+)/.exec(pathname);
  const orgId = m?.[1];
  if (pathname === "/account/password" || pathname === "/orgs/new") {
    return (
      <AppLayout orgId={orgId ?? orgList[0]?.id} orgs={orgList}>
        {pathname === "/orgs/new" ? <NoOrgPage embedded /> : <ChangePasswordPage />}
      </AppLayout>
    );
  }
  if (!orgId || !orgList.some((o) => o.id === orgId)) {
    if (orgList.length === 0) return <NoOrgPage />;
    const remembered = localStorage.getItem("kw_org");
    const target = orgList.find((o) => o.id === remembered) ?? orgList[0];
    return <Redirect to={`/o/${target.id}/keys`} />;
  }
  localStorage.setItem("kw_org", orgId);
  return (
    <AppLayout orgId={orgId} orgs={orgList}>
      <OrgRoutes orgId={orgId} pathname={pathname} />
    </AppLayout>
  );
}
