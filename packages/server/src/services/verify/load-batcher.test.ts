import { describe, expect, it } from "vitest";
import { type BatchResults, LoadBatcher } from "./load-batcher.js";

/** A batcher whose batches the test settles by hand, recording each one's values. */
function manual(slots: number, size: number) {
  const batches: { values: string[]; settle: (r: BatchResults<string> | Error) => void }[] = [];
  const batcher = new LoadBatcher<string>(slots, size, (values) => {
    return new Promise((resolve, reject) => {
      batches.push({ values, settle: (r) => (r instanceof Error ? reject(r) : resolve(r)) });
    });
  });
  return { batcher, batches };
}

const answers = (values: string[]): BatchResults<string> => new Map(values.map((v) => [v, `row of ${v}`]));
const tick = () => new Promise((r) => setImmediate(r));

describe("LoadBatcher", () => {
  it("loads a value asked for alone at once, by itself", async () => {
    const { batcher, batches } = manual(2, 10);
    const a = batcher.load("a");
    expect(batches.map((b) => b.values)).toEqual([["a"]]);
    batches[0].settle(answers(["a"]));
    expect(await a).toBe("row of a");
  });

  it("gathers what waits for a slot into the next batch, oldest first, at most `size` of them", async () => {
    const { batcher, batches } = manual(1, 3);
    const first = batcher.load("a");
    const rest = ["b", "c", "d", "e", "f"].map((v) => batcher.load(v));
    expect(batches.map((b) => b.values)).toEqual([["a"]]);
    batches[0].settle(answers(["a"]));
    await first;
    expect(batches.map((b) => b.values)).toEqual([["a"], ["b", "c", "d"]]);
    batches[1].settle(answers(["b", "c", "d"]));
    await tick();
    expect(batches.map((b) => b.values)).toEqual([["a"], ["b", "c", "d"], ["e", "f"]]);
    batches[2].settle(answers(["e", "f"]));
    expect(await Promise.all(rest)).toEqual(["row of b", "row of c", "row of d", "row of e", "row of f"]);
  });

  it("runs no more than `slots` batches at once", async () => {
    const { batcher, batches } = manual(2, 1);
    const loads = ["a", "b", "c"].map((v) => batcher.load(v));
    expect(batches.map((b) => b.values)).toEqual([["a"], ["b"]]);
    batches[1].settle(answers(["b"]));
    await tick();
    expect(batches.map((b) => b.values)).toEqual([["a"], ["b"], ["c"]]);
    batches[0].settle(answers(["a"]));
    batches[2].settle(answers(["c"]));
    expect(await Promise.all(loads)).toEqual(["row of a", "row of b", "row of c"]);
  });

  it("loads a value asked for twice while it waits once, for both", async () => {
    const { batcher, batches } = manual(1, 10);
    const busy = batcher.load("x");
    const twice = [batcher.load("a"), batcher.load("a")];
    batches[0].settle(answers(["x"]));
    await busy;
    expect(batches[1].values).toEqual(["a"]);
    batches[1].settle(answers(["a"]));
    expect(await Promise.all(twice)).toEqual(["row of a", "row of a"]);
  });

  it("answers null for a value the batch did not find", async () => {
    const { batcher, batches } = manual(1, 10);
    const a = batcher.load("a");
    batches[0].settle(new Map());
    expect(await a).toBeNull();
  });

  it("keeps an error to its own value, and a failed batch to its own values", async () => {
    const { batcher, batches } = manual(1, 10);
    const busy = batcher.load("x");
    const [a, b] = [batcher.load("a"), batcher.load("b")];
    batches[0].settle(new Error("database gone"));
    await expect(busy).rejects.toThrow("database gone");
    batches[1].settle(
      new Map<string, string | Error>([
        ["a", new Error("bad row")],
        ["b", "row of b"],
      ]),
    );
    await expect(a).rejects.toThrow("bad row");
    expect(await b).toBe("row of b");
    // The batcher goes on after failures.
    const c = batcher.load("c");
    batches[2].settle(answers(["c"]));
    expect(await c).toBe("row of c");
  });
});
