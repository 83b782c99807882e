import { AppShell, Burger, Button, Group, Menu, NavLink, Select, Text, Title } from "@mantine/core";
import { useDisclosure } from "@mantine/hooks";
import { notifications } from "@mantine/notifications";
import { useQueryClient } from "@tanstack/react-query";
import type { ReactNode } from "react";
import { ApiError, api } from "../api/client";
import { signedOut, useMe } from "../api/queries";
import type { Org } from "../api/types";
import { Link, navigate, useLocation } from "../lib/router";

const NAV = [
  { path: "keys", label: "API keys" },
  { path: "service-accounts", label: "Service accounts" },
  { path: "projects", label: "Projects" },
  { path: "members", label: "Members" },
  { path: "roles", label: "Roles" },
  { path: "settings", label: "Settings" },
  { path: "audit", label: "Audit log" },
];

/** Header (org switcher, account menu) and side navigation; collapses to a burger below `sm`. */
export function AppLayout({ orgId, orgs, children }: { orgId?: string; orgs: Org[]; children: ReactNode }) {
  const [opened, { toggle, close }] = useDisclosure();
  const { pathname } = useLocation();
  const me = useMe();
  const qc = useQueryClient();

  const logout = async () => {
    try {
      await api("POST", "/v1/auth/logout");
    } catch (err) {
      // Not signed out unless the server says so (or says the session had already ended).
      if (!(err instanceof ApiError && err.status === 401)) {
        notifications.show({
          color: "red",
          title: "Not signed out",
          message: "The server could not be reached: your session is still active. Try again.",
        });
        return;
      }
    }
    signedOut(qc);
    navigate("/login");
  };

  return (
    <AppShell
      header={{ height: 56 }}
      navbar={{ width: 220, breakpoint: "sm", collapsed: { mobile: !opened } }}
      padding="md"
    >
      <AppShell.Header>
        <Group h="100%" px="md" justify="space-between" wrap="nowrap">
          <Group gap="sm" wrap="nowrap">
            <Burger opened={opened} onClick={toggle} hiddenFrom="sm" size="sm" aria-label="Toggle navigation" />
            <Title order={4} visibleFrom="xs">
              Keyward
            </Title>
            {orgs.length > 0 && (
              <Select
                aria-label="Organization"
                data={orgs.map((o) => ({ value: o.id, label: o.name }))}
                value={orgId ?? null}
                onChange={(v) => v && navigate(`/o/${v}/keys`)}
                allowDeselect={false}
                w={180}
                size="sm"
              />
            )}
          </Group>
          <Menu position="bottom-end">
            <Menu.Target>
              <Button variant="subtle" size="sm" aria-label="Account menu">
                <Text size="sm" truncate maw={160}>
                  {me.data?.user?.email ?? "Account"}
                </Text>
              </Button>
            </Menu.Target>
            <Menu.Dropdown>
              <Menu.Item onClick={() => navigate("/orgs/new")}>New organization</Menu.Item>
              <Menu.Item onClick={() => navigate("/account/password")}>Change password</Menu.Item>
              <Menu.Item onClick={logout}>Sign out</Menu.Item>
            </Menu.Dropdown>
          </Menu>
        </Group>
      </AppShell.Header>
      <AppShell.Navbar p="xs" aria-label="Main navigation">
        {orgId &&
          NAV.map((n) => {
            const to = `/o/${orgId}/${n.path}`;
            return (
              <NavLink
                key={n.path}
                component={Link}
                to={to}
                label={n.label}
                active={pathname === to || pathname.startsWith(`${to}/`)}
                onClick={close}
              />
            );
          })}
      </AppShell.Navbar>
      <AppShell.Main>{children}</AppShell.Main>
    </AppShell>
  );
}
