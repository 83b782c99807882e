import { Alert, Button, Center, Paper, PasswordInput, Stack, Text, TextInput, Title } from "@mantine/core";
import { useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useState } from "react";
import { ApiError, api } from "../api/client";
import { useMe } from "../api/queries";
import { fieldErrors } from "../lib/problems";
import { navigate } from "../lib/router";

/** `/invite/:token`: join an org; new users choose a name and password here. */
export function AcceptInvitationPage({ token }: { token: string }) {
  const [name, setName] = useState("");
  const [password, setPassword] = useState("");
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [failure, setFailure] = useState<string | null>(null);
  const [done, setDone] = useState(false);
  const qc = useQueryClient();
  const me = useMe();

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setFailure(null);
    try {
      const body: Record<string, string> = {};
      if (name) body.name = name;
      if (password) body.password = password;
      await api("POST", `/v1/invitations/${encodeURIComponent(token)}/accept`, { body });
      await qc.invalidateQueries({ queryKey: ["orgs"] }); // a signed-in user has one more
      setDone(true);
    } catch (err) {
      if (err instanceof ApiError) {
        setErrors(fieldErrors(err.errors));
        if (!err.errors.length) setFailure(err.message);
      } else setFailure("Could not accept the invitation");
    }
  };

  return (
    <Center mih="100vh" p="md">
      <Paper withBorder p="xl" maw={420} w="100%" component="main">
        {done ? (
          <Stack>
            <Title order={2}>You joined the organization</Title>
            <Button onClick={() => navigate(me.data?.user ? "/" : "/login")}>
              {me.data?.user ? "Continue" : "Sign in"}
            </Button>
          </Stack>
        ) : (
          <form onSubmit={submit} noValidate>
            <Stack>
              <Title order={2}>Accept invitation</Title>
              <Text size="sm">
                New to Keyward? Choose a name and password. Already have an account? Sign in first in this browser, then
                open the link again and accept with the fields left empty.
              </Text>
              {failure && (
                <Alert color="red" role="alert">
                  {failure}
                </Alert>
              )}
              <TextInput
                label="Your name"
                value={name}
                onChange={(e) => setName(e.currentTarget.value)}
                error={errors.name}
              />
              <PasswordInput
                label="Choose a password"
                description="At least 12 characters"
                value={password}
                onChange={(e) => setPassword(e.currentTarget.value)}
                error={errors.password}
              />
              <Button type="submit">Accept</Button>
            </Stack>
          </form>
        )}
      </Paper>
    </Center>
  );
}
