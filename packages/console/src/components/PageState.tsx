import { Alert, Center, Loader, Stack, Text } from "@mantine/core";
import type { ReactNode } from "react";

/** Loading, error and empty states shared by the list pages. */
export function PageState({
  loading,
  error,
  empty,
  emptyText,
  children,
}: {
  loading: boolean;
  error: unknown;
  empty: boolean;
  emptyText: string;
  children: ReactNode;
}) {
  if (loading) {
    return (
      <Center p="xl">
        <Loader aria-label="Loading" />
      </Center>
    );
  }
  if (error) {
    return (
      <Alert color="red" role="alert" title="Could not load">
        {(error as Error).message}
      </Alert>
    );
  }
  if (empty) {
    return (
      <Center p="xl">
        <Stack align="center">
          <Text c="dimmed">{emptyText}</Text>
        </Stack>
      </Center>
    );
  }
  return <>{children}</>;
}
