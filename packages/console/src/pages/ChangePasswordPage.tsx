import { Alert, Button, Center, Paper, PasswordInput, Stack, Text, Title } from "@mantine/core";
import { notifications } from "@mantine/notifications";
import { useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useState } from "react";
import { ApiError, api } from "../api/client";
import { fieldErrors } from "../lib/problems";
import { type Errors, hasErrors, passwordErrors } from "../lib/validation";

type Field = "currentPassword" | "newPassword" | "confirm";

/** Change password; `firstRun` is the screen shown until the printed first-start password is replaced. */
export function ChangePasswordPage({ firstRun = false }: { firstRun?: boolean }) {
  const qc = useQueryClient();
  const [v, setV] = useState({ currentPassword: "", newPassword: "", confirm: "" });
  const [errors, setErrors] = useState<Errors<Field>>({});
  const [failure, setFailure] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const set = (k: Field) => (e: React.ChangeEvent<HTMLInputElement>) => setV({ ...v, [k]: e.currentTarget.value });

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const errs = passwordErrors(v);
    setErrors(errs);
    if (hasErrors(errs)) return;
    setBusy(true);
    setFailure(null);
    try {
      await api("POST", "/v1/me/password", {
        body: { currentPassword: v.currentPassword, newPassword: v.newPassword },
      });
      notifications.show({ color: "green", message: "Password changed" });
      setV({ currentPassword: "", newPassword: "", confirm: "" });
      await qc.invalidateQueries({ queryKey: ["me"] });
    } catch (err) {
      if (err instanceof ApiError) {
        const fe = fieldErrors(err.errors);
        setErrors({ currentPassword: fe.currentPassword, newPassword: fe.newPassword });
        if (!fe.currentPassword && !fe.newPassword) setFailure(err.message);
      } else setFailure("Could not change the password");
    } finally {
      setBusy(false);
    }
  };

  const form = (
    <form onSubmit={submit} noValidate>
      <Stack maw={420}>
        <Title order={2}>{firstRun ? "Welcome to Keyward" : "Change password"}</Title>
        {firstRun && (
          <Alert color="yellow" title="Change the printed password">
            You signed in with the password printed when Keyward first started. Choose your own password now; the
            printed one stops working.
          </Alert>
        )}
        {failure && (
          <Alert color="red" role="alert">
            {failure}
          </Alert>
        )}
        <PasswordInput
          label="Current password"
          autoComplete="current-password"
          value={v.currentPassword}
          onChange={set("currentPassword")}
          error={errors.currentPassword}
        />
        <PasswordInput
          label="New password"
          description="At least 12 characters"
          autoComplete="new-password"
          value={v.newPassword}
          onChange={set("newPassword")}
          error={errors.newPassword}
        />
        <PasswordInput
          label="Repeat new password"
          autoComplete="new-password"
          value={v.confirm}
          onChange={set("confirm")}
          error={errors.confirm}
        />
        <Button type="submit" loading={busy}>
          Change password
        </Button>
        {firstRun && (
          <Text size="xs" c="dimmed">
            Your other sessions are signed out when the password changes.
          </Text>
        )}
      </Stack>
    </form>
  );
  if (!firstRun) return form;
  return (
    <Center mih="100vh" p="md">
      <Paper withBorder shadow="sm" p="xl" w="100%" maw={460} component="main">
        {form}
      </Paper>
    </Center>
  );
}
