import { Alert, Button, Card, Group, NumberInput, Stack, Switch, TextInput, Title } from "@mantine/core";
import { notifications } from "@mantine/notifications";
import { useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useEffect, useState } from "react";
import { ApiError, api } from "../api/client";
import { useMyAccess, useOrg } from "../api/queries";
import type { Org, OrgSettings } from "../api/types";
import { IpRulesInput } from "../components/IpRulesInput";
import { fieldErrors } from "../lib/problems";
import { nameError } from "../lib/validation";

/** Org name and key policy (DESIGN §4). */
export function SettingsPage({ orgId }: { orgId: string }) {
  const qc = useQueryClient();
  const org = useOrg(orgId);
  const access = useMyAccess(orgId);
  const editable = access.can("iam:orgs:update");
  const [name, setName] = useState("");
  const [s, setS] = useState<OrgSettings | null>(null);
  const [errors, setErrors] = useState<Record<string, string | undefined>>({});
  const [failure, setFailure] = useState<string | null>(null);

  useEffect(() => {
    if (org.data) {
      setName(org.data.name);
      setS(org.data.settings);
    }
  }, [org.data]);

  if (!org.data || !s) return null;
  const set = <K extends keyof OrgSettings>(k: K, v: OrgSettings[K]) => setS({ ...s, [k]: v });

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const n = nameError(name);
    setErrors({ name: n ?? undefined });
    if (n) return;
    setFailure(null);
    try {
      const updated = await api<Org>("PATCH", `/v1/orgs/${orgId}`, {
        body: { name: name.trim(), settings: s },
        ifMatch: org.data?.version,
      });
      qc.setQueryData(["org", orgId], updated);
      await qc.invalidateQueries({ queryKey: ["orgs"] });
      notifications.show({ color: "green", message: "Settings saved" });
    } catch (x) {
      if (x instanceof ApiError) {
        const fe = fieldErrors(x.errors.map((er) => ({ ...er, path: er.path.replace(/^\/?settings\//, "") })));
        setErrors(fe);
        setFailure(
          x.status === 412
            ? "Someone else changed these settings; reload to see them."
            : x.errors.length
              ? null
              : x.message,
        );
      }
    }
  };

  return (
    <form onSubmit={submit} noValidate aria-label="Organization settings">
      <Stack maw={720}>
        <Title order={2}>Settings</Title>
        {!editable && <Alert color="gray">You can view these settings; changing them needs iam:orgs:update.</Alert>}
        {failure && (
          <Alert color="red" role="alert">
            {failure}
          </Alert>
        )}
        <Card withBorder>
          <TextInput
            label="Organization name"
            value={name}
            onChange={(e) => setName(e.currentTarget.value)}
            error={errors.name}
            disabled={!editable}
          />
        </Card>
        <Card withBorder>
          <Stack>
            <Title order={3} size="h4">
              Key policy
            </Title>
            <Switch
              label="Restrict API key creation"
              description="Only principals whose role explicitly lists iam:apikeys:create may create keys (wildcards do not count)"
              checked={s.restrictKeyCreation}
              onChange={(e) => set("restrictKeyCreation", e.currentTarget.checked)}
              disabled={!editable}
            />
            <Switch
              label="Require an expiry on new keys"
              checked={s.requireExpiry}
              onChange={(e) => set("requireExpiry", e.currentTarget.checked)}
              disabled={!editable}
            />
            <NumberInput
              label="Maximum key lifetime (days)"
              description="Empty: no limit"
              min={1}
              max={3650}
              value={s.maxKeyLifetimeDays ?? ""}
              onChange={(v) => set("maxKeyLifetimeDays", v === "" ? null : Number(v))}
              error={errors.maxKeyLifetimeDays}
              disabled={!editable}
            />
            <NumberInput
              label="Maximum keys per user"
              description="Empty: no limit"
              min={1}
              max={10000}
              value={s.maxKeysPerUser ?? ""}
              onChange={(v) => set("maxKeysPerUser", v === "" ? null : Number(v))}
              error={errors.maxKeysPerUser}
              disabled={!editable}
            />
            <IpRulesInput
              label="Organization IP allow list"
              value={s.allowedIps}
              onChange={(ips) => set("allowedIps", ips)}
              error={errors.allowedIps}
            />
            <Switch
              label="Inviters manage keys of members they invited"
              checked={s.inviterManagesKeys}
              onChange={(e) => set("inviterManagesKeys", e.currentTarget.checked)}
              disabled={!editable}
            />
          </Stack>
        </Card>
        {editable && (
          <Group justify="flex-end">
            <Button type="submit">Save settings</Button>
          </Group>
        )}
      </Stack>
    </form>
  );
}
