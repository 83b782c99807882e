import { Button, Center, Paper, Stack, Text, TextInput, Title } from "@mantine/core";
import { useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useState } from "react";
import { ApiError, api } from "../api/client";
import type { Org } from "../api/types";
import { navigate } from "../lib/router";
import { nameError } from "../lib/validation";

/** Creates an organization: the first-run screen for users in none, or `/orgs/new` inside the app. */
export function NoOrgPage({ embedded = false }: { embedded?: boolean }) {
  const qc = useQueryClient();
  const [name, setName] = useState("");
  const [error, setError] = useState<string | null>(null);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const err = nameError(name);
    setError(err);
    if (err) return;
    try {
      const org = await api<Org>("POST", "/v1/orgs", { body: { name: name.trim() } });
      await qc.invalidateQueries({ queryKey: ["orgs"] });
      navigate(`/o/${org.id}/keys`);
    } catch (x) {
      setError(x instanceof ApiError ? x.message : "Could not create the organization");
    }
  };
  const form = (
    <form onSubmit={submit} noValidate>
      <Stack maw={420}>
        <Title order={2}>{embedded ? "New organization" : "No organization yet"}</Title>
        <Text size="sm">
          {embedded ? "You become its owner." : "Create one to start issuing API keys, or ask an admin to invite you."}
        </Text>
        <TextInput
          label="Organization name"
          value={name}
          onChange={(e) => setName(e.currentTarget.value)}
          error={error}
        />
        <Button type="submit">Create organization</Button>
      </Stack>
    </form>
  );
  if (embedded) return form;
  return (
    <Center mih="100vh" p="md">
      <Paper withBorder p="xl" maw={420} w="100%" component="main">
        {form}
      </Paper>
    </Center>
  );
}
