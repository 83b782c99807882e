import { Alert, Button, Group, MultiSelect, Select, Stack, Switch, TextInput, Textarea } from "@mantine/core";
import { DateInput } from "@mantine/dates";
import { notifications } from "@mantine/notifications";
import { useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useState } from "react";
import { ApiError, api } from "../api/client";
import type { ApiKey, Project } from "../api/types";
import { ipRuleError } from "../lib/ip";
import { fieldErrors } from "../lib/problems";
import {
  ALLOWED_PROJECTS_HINT,
  type Errors,
  endOfDay,
  expiryError,
  hasErrors,
  nameError,
  rateLimitBody,
  rateLimitError,
  rateLimitValue,
} from "../lib/validation";
import { IpRulesInput } from "./IpRulesInput";
import { RateLimitInput } from "./RateLimitInput";

type Field = "name" | "description" | "defaultProjectId" | "allowedIps" | "allowedProjects" | "expiresAt" | "ratelimit";

/** The local day (`YYYY-MM-DD`) an instant falls on: the day the date picker showed when it was set. */
const toDay = (iso: string | null) => {
  if (!iso) return null;
  const d = new Date(iso);
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
};

/** Edits a key's name, description, preferred project, restrictions, rate limit and expiry (PATCH with If-Match). */
export function KeyEditForm({ apiKey, projects }: { apiKey: ApiKey; projects: Project[] }) {
  const qc = useQueryClient();
  const [name, setName] = useState(apiKey.name);
  const [description, setDescription] = useState(apiKey.description ?? "");
  const [defaultProjectId, setDefaultProjectId] = useState<string | null>(apiKey.defaultProjectId);
  const [allowedIps, setAllowedIps] = useState<string[]>(apiKey.allowedIps ?? []);
  const [allowedProjects, setAllowedProjects] = useState<string[]>(apiKey.allowedProjects ?? []);
  const [expires, setExpires] = useState(!!apiKey.expiresAt);
  const [expiresOn, setExpiresOn] = useState<string | null>(toDay(apiKey.expiresAt));
  const [ratelimit, setRatelimit] = useState(rateLimitValue(apiKey.ratelimit));
  const [errors, setErrors] = useState<Errors<Field>>({});
  const [failure, setFailure] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const errs: Errors<Field> = {};
    errs.name = nameError(name) ?? undefined;
    const ipErr = allowedIps.map((ip, i) => ipRuleError(ip, allowedIps.slice(0, i))).find(Boolean);
    errs.allowedIps = ipErr ?? undefined;
    const expiryChanged = expires ? toDay(apiKey.expiresAt) !== expiresOn : !!apiKey.expiresAt;
    if (expiryChanged)
      errs.expiresAt = expiryError(expires ? endOfDay(expiresOn) : null, undefined, new Date()) ?? undefined;
    errs.ratelimit = rateLimitError(ratelimit) ?? undefined;
    setErrors(errs);
    if (hasErrors(errs)) return;
    // Only changed fields are sent, so a concurrent edit of another field is not overwritten.
    const body: Record<string, unknown> = {};
    if (name.trim() !== apiKey.name) body.name = name.trim();
    if (description !== (apiKey.description ?? "")) body.description = description;
    if (defaultProjectId !== apiKey.defaultProjectId) body.defaultProjectId = defaultProjectId;
    if (JSON.stringify(allowedIps) !== JSON.stringify(apiKey.allowedIps ?? [])) body.allowedIps = allowedIps;
    if (JSON.stringify(allowedProjects) !== JSON.stringify(apiKey.allowedProjects ?? [])) {
      body.allowedProjects = allowedProjects.length ? allowedProjects : null;
    }
    if (expiryChanged) body.expiresAt = expires ? endOfDay(expiresOn)?.toISOString() : null;
    const rl = rateLimitBody(ratelimit);
    if (JSON.stringify(rl) !== JSON.stringify(apiKey.ratelimit ?? null)) body.ratelimit = rl;
    if (Object.keys(body).length === 0) {
      notifications.show({ message: "Nothing to save" });
      return;
    }
    setBusy(true);
    setFailure(null);
    try {
      const updated = await api<ApiKey>("PATCH", `/v1/api-keys/${apiKey.id}`, { body, ifMatch: apiKey.version });
      qc.setQueryData(["key", apiKey.id], updated);
      await qc.invalidateQueries({ queryKey: ["keys"] });
      notifications.show({ color: "green", message: "Key saved" });
    } catch (err) {
      if (err instanceof ApiError) {
        setErrors(fieldErrors(err.errors));
        setFailure(
          err.status === 412
            ? "Someone else changed this key. Reload the page to see their change."
            : err.errors.length
              ? null
              : err.message,
        );
      } else setFailure("Could not save the key");
    } finally {
      setBusy(false);
    }
  };

  const projectOptions = projects.map((p) => ({ value: p.id, label: p.name }));
  return (
    <form onSubmit={submit} noValidate aria-label="Edit key">
      <Stack>
        {failure && (
          <Alert color="red" role="alert">
            {failure}
          </Alert>
        )}
        <TextInput
          label="Name"
          required
          value={name}
          onChange={(e) => setName(e.currentTarget.value)}
          error={errors.name}
        />
        <Textarea
          label="Description"
          autosize
          minRows={1}
          value={description}
          onChange={(e) => setDescription(e.currentTarget.value)}
          error={errors.description}
        />
        <Select
          label="Preferred project"
          data={projectOptions}
          value={defaultProjectId}
          onChange={setDefaultProjectId}
          clearable
          error={errors.defaultProjectId}
        />
        <IpRulesInput value={allowedIps} onChange={setAllowedIps} error={errors.allowedIps} />
        <MultiSelect
          searchable
          label="Allowed projects"
          description={ALLOWED_PROJECTS_HINT}
          data={projectOptions}
          value={allowedProjects}
          onChange={setAllowedProjects}
          error={errors.allowedProjects}
        />
        <RateLimitInput value={ratelimit} onChange={setRatelimit} error={errors.ratelimit} />
        <Group align="flex-start" grow>
          <Switch label="Expires" checked={expires} onChange={(e) => setExpires(e.currentTarget.checked)} mt="xs" />
          {expires && (
            <DateInput
              label="Expiry date"
              placeholder="YYYY-MM-DD"
              valueFormat="YYYY-MM-DD"
              value={expiresOn}
              onChange={setExpiresOn}
              error={errors.expiresAt}
            />
          )}
        </Group>
        <Group justify="flex-end">
          <Button type="submit" loading={busy}>
            Save changes
          </Button>
        </Group>
      </Stack>
    </form>
  );
}
