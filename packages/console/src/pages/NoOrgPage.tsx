import { Button, Center, Paper, Stack, Text, TextInput, Title } from "@mantine/core";
import { useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useState } from "react";
import { ApiError, api } from "../api/client";
import type { Org } from "../api/types";
import { navigate } from "../lib/router";
import { nameError } from "../lib/validation";

/** Shown to a signed-in user who belongs to no organization yet. */
export function NoOrgPage() {
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
  return (
    <Center mih="100vh" p="md">
      <Paper withBorder p="xl" maw={420} w="100%" component="main">
        <form onSubmit={submit} noValidate>
          <Stack>
            <Title order={2}>No organization yet</Title>
            <Text size="sm">Create one to start issuing API keys, or ask an admin to invite you.</Text>
            <TextInput label="Organization name" value={name} onChange={(e) => setName(e.currentTarget.value)} error={error} />
            <Button type="submit">Create organization</Button>
          </Stack>
        </form>
      </Paper>
    </Center>
  );
}
