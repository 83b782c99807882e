import { Title } from "@mantine/core";
import { matchPath } from "../lib/router";
import { AuditPage } from "./AuditPage";
import { KeyDetailsPage } from "./KeyDetailsPage";
import { KeysPage } from "./KeysPage";
import { MembersPage } from "./MembersPage";
import { ProjectsPage } from "./ProjectsPage";
import { RolesPage } from "./RolesPage";
import { ServiceAccountsPage } from "./ServiceAccountsPage";
import { SettingsPage } from "./SettingsPage";

/** Pages under `/o/:orgId/…`. */
export function OrgRoutes({ orgId, pathname }: { orgId: string; pathname: string }) {
  const sub = pathname.replace(`/o/${orgId}`, "") || "/";
  const key = matchPath("/keys/:keyId", sub);
  if (key) return <KeyDetailsPage orgId={orgId} keyId={key.keyId} />;
  switch (sub) {
    case "/":
    case "/keys":
      return <KeysPage orgId={orgId} />;
    case "/service-accounts":
      return <ServiceAccountsPage orgId={orgId} />;
    case "/projects":
      return <ProjectsPage orgId={orgId} />;
    case "/members":
      return <MembersPage orgId={orgId} />;
    case "/roles":
      return <RolesPage orgId={orgId} />;
    case "/settings":
      return <SettingsPage orgId={orgId} />;
    case "/audit":
      return <AuditPage orgId={orgId} />;
    default:
      return <Title order={2}>Page not found</Title>;
  }
}
