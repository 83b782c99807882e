import {
  Alert,
  Button,
  Group,
  Modal,
  MultiSelect,
  SegmentedControl,
  Select,
  Stack,
  Switch,
  Text,
  TextInput,
  Textarea,
} from "@mantine/core";
import { DateInput } from "@mantine/dates";
import { useMediaQuery } from "@mantine/hooks";
import { useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useRef, useState } from "react";
import { ApiError, api } from "../api/client";
import { useNames } from "../api/names";
import { useAllowedPermissions, usePermissions } from "../api/queries";
import type { KeyWithSecret, OrgSettings } from "../api/types";
import { isRead } from "../lib/permissions";
import { fieldErrors, unclaimedErrors } from "../lib/problems";
import {
  ALLOWED_PROJECTS_HINT,
  type Errors,
  type KeyFormField,
  type KeyFormValues,
  endOfDay,
  expiryError,
  hasErrors,
  rateLimitBody,
  rateLimitValue,
  validateKeyForm,
} from "../lib/validation";
import { focusFirstError } from "./focus-error";
import { IpRulesInput } from "./IpRulesInput";
import { PermissionPicker } from "./PermissionPicker";
import { RateLimitInput } from "./RateLimitInput";

const EMPTY: KeyFormValues = {
  name: "",
  description: "",
  ownerType: "me",
  ownerId: null,
  expires: false,
  expiresOn: null,
  allowedIps: [],
  allowedProjects: [],
  readOnly: false,
  permissions: [],
  ratelimit: rateLimitValue(null),
};

const FIELDS: KeyFormField[] = [
  "name",
  "description",
  "ownerId",
  "expiresOn",
  "allowedIps",
  "allowedProjects",
  "permissions",
  "ratelimit",
];
/** API body field -> form field, for server errors. */
const API_FIELD: Record<string, KeyFormField> = { owner: "ownerId", expiresAt: "expiresOn" };

/** The create-key form (DESIGN §5 body), enforcing the org's key policy before sending. */
export function CreateKeyModal({
  orgId,
  opened,
  settings,
  onClose,
  onCreated,
}: {
  orgId: string;
  opened: boolean;
  settings?: OrgSettings;
  onClose: () => void;
  onCreated: (r: KeyWithSecret) => void;
}) {
  const qc = useQueryClient();
  const narrow = useMediaQuery("(max-width: 36em)");
  const formRef = useRef<HTMLFormElement>(null);
  const names = useNames(orgId);
  const catalog = usePermissions();
  const allowed = useAllowedPermissions(orgId, opened);
  const allowedNames = allowed.data?.items.map((p) => p.name);
  const [v, setV] = useState<KeyFormValues>(() => ({
    ...EMPTY,
    expires: !!(settings?.requireExpiry || settings?.maxKeyLifetimeDays),
  }));
  const [errors, setErrors] = useState<Errors<KeyFormField>>({});
  const [failure, setFailure] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const set = <K extends KeyFormField>(k: K, val: KeyFormValues[K]) => {
    setV((old) => ({ ...old, [k]: val }));
    setErrors((e) => ({ ...e, [k]: undefined }));
  };

  const now = new Date();
  const expiryRequired = !!(settings?.requireExpiry || settings?.maxKeyLifetimeDays);
  const offered = allowed.data?.items ?? (catalog.data ?? []).filter((p) => !p.platform);

  const reset = () => {
    setV({ ...EMPTY, expires: expiryRequired });
    setErrors({});
    setFailure(null);
  };

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const errs = validateKeyForm(v, { policy: settings, now: new Date(), allowed: allowedNames, readOnlyOf: isRead });
    setErrors(errs);
    if (hasErrors(errs)) return focusFirstError(formRef.current);
    const body: Record<string, unknown> = {
      name: v.name.trim(),
      readOnly: v.readOnly,
      allowedIps: v.allowedIps,
    };
    // Absent allowedProjects means any project; an empty list would mean none.
    if (v.allowedProjects.length) body.allowedProjects = v.allowedProjects;
    if (v.description.trim()) body.description = v.description.trim();
    if (v.ownerType !== "me" && v.ownerId) body.owner = { type: v.ownerType, id: v.ownerId };
    if (v.permissions.length) body.permissions = v.permissions;
    if (v.expires) body.expiresAt = endOfDay(v.expiresOn)?.toISOString();
    if (v.ratelimit.on) body.ratelimit = rateLimitBody(v.ratelimit);
    setBusy(true);
    setFailure(null);
    try {
      const res = await api<KeyWithSecret>("POST", `/v1/orgs/${orgId}/api-keys`, { body });
      await qc.invalidateQueries({ queryKey: ["keys", orgId] });
      reset();
      onCreated(res);
    } catch (err) {
      if (!(err instanceof ApiError)) {
        setFailure("Could not create the key");
        return;
      }
      const fe = fieldErrors(err.errors);
      const mapped: Errors<KeyFormField> = {};
      for (const [k, m] of Object.entries(fe)) mapped[API_FIELD[k] ?? (k as KeyFormField)] = m;
      setErrors(mapped);
      focusFirstError(formRef.current);
      const rest = unclaimedErrors(
        err.errors.map((x) => ({ ...x, path: x.path.replace(/^\/?(owner|expiresAt)/, (_, f) => API_FIELD[f]) })),
        FIELDS,
      );
      if (!err.errors.length || rest.length) setFailure([err.message, ...rest].join(" — "));
    } finally {
      setBusy(false);
    }
  };

  const ownerOptions =
    v.ownerType === "project"
      ? names.projects.map((p) => ({ value: p.id, label: p.name }))
      : names.serviceAccounts.map((s) => ({ value: s.id, label: s.name }));

  return (
    <Modal opened={opened} onClose={onClose} title="Create API key" size="xl" fullScreen={narrow}>
      <form ref={formRef} onSubmit={submit} noValidate aria-label="Create API key">
        <Stack>
          {failure && (
            <Alert color="red" role="alert">
              {failure}
            </Alert>
          )}
          <TextInput
            label="Name"
            required
            maxLength={100}
            value={v.name}
            onChange={(e) => set("name", e.currentTarget.value)}
            error={errors.name}
            data-autofocus
          />
          <Textarea
            label="Description"
            autosize
            minRows={1}
            value={v.description}
            onChange={(e) => set("description", e.currentTarget.value)}
            error={errors.description}
          />
          <Stack gap={6}>
            <SegmentedControl
              aria-label="Owner"
              value={v.ownerType}
              onChange={(t) => {
                set("ownerType", t as KeyFormValues["ownerType"]);
                set("ownerId", null);
              }}
              data={[
                { value: "me", label: "Me" },
                { value: "service_account", label: "Service account" },
                { value: "project", label: "Project" },
              ]}
            />
            {v.ownerType === "me" && errors.ownerId && (
              <Text c="red" size="sm" role="alert">
                {errors.ownerId}
              </Text>
            )}
            {v.ownerType !== "me" && (
              <Select
                label={v.ownerType === "project" ? "Owning project" : "Owning service account"}
                data={ownerOptions}
                value={v.ownerId}
                onChange={(id) => set("ownerId", id)}
                error={errors.ownerId}
                searchable
                nothingFoundMessage="None found"
              />
            )}
          </Stack>
          <Group align="flex-start" grow>
            <Switch
              label="Expires"
              description={expiryRequired ? "Required by this organization's key policy" : undefined}
              checked={v.expires}
              disabled={expiryRequired}
              onChange={(e) => set("expires", e.currentTarget.checked)}
              mt="xs"
            />
            {v.expires && (
              <DateInput
                label="Expiry date"
                placeholder="YYYY-MM-DD"
                valueFormat="YYYY-MM-DD"
                value={v.expiresOn}
                onChange={(d) => set("expiresOn", d)}
                // Out-of-range days are greyed out in the calendar; a typed one gets a clear message
                // from the form's validation (minDate/maxDate would silently drop it instead).
                getDayProps={(d) => ({ disabled: !!expiryError(endOfDay(String(d)), settings, now) })}
                error={errors.expiresOn}
                clearable
              />
            )}
          </Group>
          <IpRulesInput value={v.allowedIps} onChange={(ips) => set("allowedIps", ips)} error={errors.allowedIps} />
          <MultiSelect
            label="Allowed projects"
            description={ALLOWED_PROJECTS_HINT}
            data={names.projects.map((p) => ({ value: p.id, label: p.name }))}
            value={v.allowedProjects}
            onChange={(ps) => set("allowedProjects", ps)}
            error={errors.allowedProjects}
            searchable
          />
          <RateLimitInput value={v.ratelimit} onChange={(r) => set("ratelimit", r)} error={errors.ratelimit} />
          <Switch
            label="Read-only"
            description="The key may only use read actions (read, list, get)"
            checked={v.readOnly}
            onChange={(e) => {
              const ro = e.currentTarget.checked;
              setV((old) => ({
                ...old,
                readOnly: ro,
                permissions: ro ? old.permissions.filter(isRead) : old.permissions,
              }));
            }}
          />
          <PermissionPicker
            legend="Permissions (none selected: all of the owner's permissions)"
            permissions={offered}
            value={v.permissions}
            onChange={(ps) => set("permissions", ps)}
            readOnly={v.readOnly}
            error={errors.permissions}
          />
          <Group justify="flex-end">
            <Button variant="default" onClick={onClose}>
              Cancel
            </Button>
            <Button type="submit" loading={busy}>
              Create key
            </Button>
          </Group>
        </Stack>
      </form>
    </Modal>
  );
}
