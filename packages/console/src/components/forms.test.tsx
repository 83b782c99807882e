import { MantineProvider } from "@mantine/core";
import { cleanup, fireEvent, render, screen } from "@testing-library/react";
import { type ReactNode, useState } from "react";
import { afterEach, describe, expect, it } from "vitest";
import { IpRulesInput } from "./IpRulesInput";
import { PermissionPicker } from "./PermissionPicker";
import { RateLimitInput } from "./RateLimitInput";
import { type RateLimitValue, rateLimitError, rateLimitValue } from "../lib/validation";

const wrap = (ui: ReactNode) => render(<MantineProvider>{ui}</MantineProvider>);
afterEach(cleanup);

function IpHarness({ initial = [] as string[] }) {
  const [v, setV] = useState(initial);
  return (
    <>
      <IpRulesInput value={v} onChange={setV} />
      <output data-testid="value">{JSON.stringify(v)}</output>
    </>
  );
}

describe("IpRulesInput", () => {
  it("adds valid rules and explains invalid ones inline", () => {
    wrap(<IpHarness />);
    const input = screen.getByLabelText("IP restrictions");
    fireEvent.change(input, { target: { value: "10.0.0.0/33" } });
    fireEvent.click(screen.getByRole("button", { name: "Add IP rule" }));
    expect(screen.getByText(/is not an IPv4\/IPv6 address or CIDR/)).toBeTruthy();
    expect(screen.getByTestId("value").textContent).toBe("[]");
    fireEvent.change(input, { target: { value: "203.0.113.0/24" } });
    fireEvent.keyDown(input, { key: "Enter" });
    expect(screen.getByTestId("value").textContent).toBe('["203.0.113.0/24"]');
  });
  it("removes a rule", () => {
    wrap(<IpHarness initial={["10.0.0.1", "::1"]} />);
    fireEvent.click(screen.getByRole("button", { name: "Remove 10.0.0.1" }));
    expect(screen.getByTestId("value").textContent).toBe('["::1"]');
  });
});

const perms = ["compute:read", "compute:write", "compute:delete", "storage:read", "storage:write"].map((name) => ({
  name,
  description: name,
  platform: false,
  readOnly: name.endsWith("read"),
}));

function PickerHarness({ readOnly = false }) {
  const [v, setV] = useState<string[]>([]);
  return (
    <>
      <PermissionPicker permissions={perms} value={v} onChange={setV} readOnly={readOnly} />
      <output data-testid="value">{JSON.stringify([...v].sort())}</output>
    </>
  );
}

describe("PermissionPicker", () => {
  it("bulk-selects by kind across products and per product", () => {
    wrap(<PickerHarness />);
    fireEvent.click(screen.getByRole("button", { name: "Read all" }));
    expect(screen.getByTestId("value").textContent).toBe('["compute:read","storage:read"]');
    fireEvent.click(screen.getByRole("button", { name: "Write all storage" }));
    expect(screen.getByTestId("value").textContent).toBe('["compute:read","storage:read","storage:write"]');
    fireEvent.click(screen.getByRole("button", { name: "Read all" }));
    expect(screen.getByTestId("value").textContent).toBe('["storage:write"]');
    fireEvent.click(screen.getByLabelText(/compute:delete/));
    expect(screen.getByTestId("value").textContent).toBe('["compute:delete","storage:write"]');
  });
  it("offers only read permissions for a read-only key", () => {
    wrap(<PickerHarness readOnly />);
    expect(screen.queryByLabelText(/compute:write/)).toBeNull();
    expect(screen.getByLabelText(/compute:read/)).toBeTruthy();
  });
});

function RateHarness({ initial }: { initial: RateLimitValue }) {
  const [v, setV] = useState(initial);
  return (
    <>
      <RateLimitInput value={v} onChange={setV} />
      <output data-testid="value">{JSON.stringify(v)}</output>
    </>
  );
}

describe("RateLimitInput", () => {
  it("shows the limit's fields only when on, and edits them", () => {
    wrap(<RateHarness initial={rateLimitValue(null)} />);
    expect(screen.queryByLabelText("Requests")).toBeNull();
    fireEvent.click(screen.getByLabelText(/^Limit requests/));
    fireEvent.change(screen.getByLabelText("Requests"), { target: { value: "250" } });
    fireEvent.change(screen.getByLabelText("Per window (seconds)"), { target: { value: "10" } });
    expect(JSON.parse(screen.getByTestId("value").textContent ?? "")).toEqual({
      on: true,
      limit: 250,
      windowSeconds: 10,
    });
  });
  it("keeps a value out of range as typed, for the form to refuse, rather than changing it to the bound", () => {
    wrap(<RateHarness initial={rateLimitValue({ limit: 5, windowSeconds: 60 })} />);
    const window = screen.getByLabelText("Per window (seconds)");
    fireEvent.change(window, { target: { value: "172800" } });
    fireEvent.blur(window);
    const v = JSON.parse(screen.getByTestId("value").textContent ?? "");
    expect(v.windowSeconds).toBe(172800);
    expect(rateLimitError(v)).toMatch(/from 1 to 86,400/);
  });
  it("starts from a key's own limit", () => {
    wrap(<RateHarness initial={rateLimitValue({ limit: 5, windowSeconds: 60 })} />);
    expect((screen.getByLabelText("Requests") as HTMLInputElement).value).toBe("5");
    expect((screen.getByLabelText("Per window (seconds)") as HTMLInputElement).value).toBe("60");
  });
});
