// Faults at random: the PRNG and the per-request draw are deterministic for a seed, fire at about
// the asked rate, and the ARM, Dataverse and Graph listeners apply them per request class.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { Sandbox } from "../../sandbox/index.js";
import { RandomFaults, fnv1a, mulberry32, parseRandomSpec, type FaultOutcome } from "../../sandbox/random-faults.js";
import { armFetch, startTestSandbox } from "../support/sandbox.js";

const label = (o: FaultOutcome | undefined) => (o === undefined ? "ok" : o.reset ? "reset" : String(o.status));
const MIX = [{ status: 429 }, { status: 503 }, { reset: true }];

describe("the seeded PRNG", () => {
  test("mulberry32: one sequence per seed, in [0, 1)", () => {
    const take = (seed: number) => Array.from({ length: 50 }, mulberry32(seed));
    expect(take(7)).toEqual(take(7));
    expect(take(7)).not.toEqual(take(8));
    expect(take(7).every((x) => x >= 0 && x < 1)).toBe(true);
    // Negative and large seeds are folded to 32 bits, not rejected.
    expect(take(-1)).toEqual(take(2 ** 32 - 1));
  });

  test("fnv1a tells keys apart and is stable", () => {
    expect(fnv1a("GET /a")).toBe(fnv1a("GET /a"));
    expect(fnv1a("GET /a")).not.toBe(fnv1a("GET /b"));
    expect(fnv1a("")).toBe(0x811c9dc5);
  });
});

describe("RandomFaults", () => {
  const requests = Array.from({ length: 300 }, (_, i) => [i % 3 === 0 ? "PUT" : "GET", `/subscriptions/s/resourcegroups/rg${i % 7}`] as const);
  const run = (seed: number, reqs: ReadonlyArray<readonly [string, string]> = requests, probability = 0.3) => {
    const r = new RandomFaults({ probability, seed, mix: MIX });
    return reqs.map(([m, p]) => label(r.draw(m, p)));
  };

  test("the same seed and requests give the same faults; another seed others", () => {
    expect(run(7)).toEqual(run(7));
    expect(run(7)).not.toEqual(run(11));
  });

  test("a path's faults do not depend on how other paths interleave with it", () => {
    const a = "/x/apis/one";
    const b = "/x/apis/two";
    const interleaved = Array.from({ length: 40 }, (_, i) => ["PUT", i % 2 ? a : b] as const);
    const grouped = [...interleaved].sort((x, y) => x[1].localeCompare(y[1]));
    const byPath = (reqs: ReadonlyArray<readonly [string, string]>) => {
      const out = run(3, reqs);
      return { a: out.filter((_, i) => reqs[i]![1] === a), b: out.filter((_, i) => reqs[i]![1] === b) };
    };
    expect(byPath(interleaved)).toEqual(byPath(grouped));
  });

  test("fires at about the asked rate and picks every outcome of the mix", () => {
    const many = Array.from({ length: 10_000 }, (_, i) => ["GET", `/p/${i % 50}`] as const);
    const out = run(42, many);
    const failed = out.filter((x) => x !== "ok").length / out.length;
    expect(failed).toBeGreaterThan(0.27);
    expect(failed).toBeLessThan(0.33);
    for (const kind of ["429", "503", "reset"]) {
      const share = out.filter((x) => x === kind).length / out.length;
      expect(share).toBeGreaterThan(0.08);
      expect(share).toBeLessThan(0.12);
    }
    expect(run(42, many, 0).every((x) => x === "ok")).toBe(true);
    expect(run(42, many, 1).every((x) => x !== "ok")).toBe(true);
  });

  test("a retry of the same request draws afresh: two failures in a row are about p² likely", () => {
    let first = 0;
    let both = 0;
    for (let i = 0; i < 20_000; i++) {
      const r = new RandomFaults({ probability: 0.3, seed: 5, mix: MIX });
      const a = r.draw("PUT", `/x/namedValues/v${i}`) !== undefined;
      const b = r.draw("PUT", `/x/namedValues/v${i}`) !== undefined;
      if (a) first++;
      if (a && b) both++;
    }
    expect(first / 20_000).toBeGreaterThan(0.28);
    expect(first / 20_000).toBeLessThan(0.32);
    expect(both / 20_000).toBeGreaterThan(0.075);
    expect(both / 20_000).toBeLessThan(0.105);
  });

  test("method and path are matched case-insensitively as ARM does", () => {
    const one = new RandomFaults({ probability: 0.5, seed: 9, mix: MIX });
    const two = new RandomFaults({ probability: 0.5, seed: 9, mix: MIX });
    const lower = Array.from({ length: 30 }, () => label(one.draw("put", "/Sub/RG")));
    const upper = Array.from({ length: 30 }, () => label(two.draw("PUT", "/sub/rg")));
    expect(lower).toEqual(upper);
  });

  test.each([
    [{ probability: 2, seed: 1, status: 503 }, /probability/],
    [{ probability: 0.3, status: 503 }, /seed/],
    [{ probability: 0.3, seed: 1.5, status: 503 }, /seed/],
    [{ probability: 0.3, seed: 1 }, /status or reset/],
    [{ probability: 0.3, seed: 1, mix: [] }, /mix/],
    [{ probability: 0.3, seed: 1, mix: [{ status: 200 }] }, /status/],
    [{ probability: 0.3, seed: 1, mix: [{ reset: "yes" }] }, /reset/],
  ])("a malformed random fault is refused: %j", (body, why) => {
    const answer = parseRandomSpec(body as Record<string, unknown>);
    expect(typeof answer).toBe("string");
    expect(answer).toMatch(why);
  });

  test("no probability: not a random fault", () => {
    expect(parseRandomSpec({ status: 503 })).toBeUndefined();
    expect(parseRandomSpec({ probability: 0.3, seed: 7, status: 503 })).toEqual({ probability: 0.3, seed: 7, mix: [{ status: 503 }] });
  });
});

describe("random faults on the sandbox's listeners", () => {
  let sb: Sandbox;
  beforeAll(async () => {
    ({ sb } = await startTestSandbox({ retryAfterSeconds: 0 }));
  });
  afterAll(async () => {
    await sb?.close();
  });

  const post = async (base: string, p: string, body?: unknown, method = "POST") => {
    const res = await fetch(`${base}${p}`, { method, headers: { "content-type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    return { status: res.status, json: text ? JSON.parse(text) : undefined };
  };
  /** One request's outcome as a label: its status, or "reset" when the connection was dropped. */
  const outcome = async (send: () => Promise<{ status: number; headers: Headers }>) => {
    try {
      const r = await send();
      return { label: String(r.status), retryAfter: r.headers.get("retry-after") };
    } catch {
      return { label: "reset", retryAfter: null };
    }
  };

  test("ARM: replays the same faults for the same seed, only on its request class; 429s carry the sandbox's Retry-After", async () => {
    const rgs = `/subscriptions/${sb.subscriptionId}/resourcegroups?api-version=2025-04-01`;
    const sub = `/subscriptions/${sb.subscriptionId}?api-version=2022-12-01`;
    const fault = { match: { method: "GET", pathRegex: "/resourcegroups$" }, probability: 0.5, seed: 7, mix: MIX };
    const sequence = async () => {
      expect((await post(sb.arm, "/_sandbox/faults", fault)).status).toBe(201);
      const out = [];
      for (let i = 0; i < 60; i++) {
        out.push(await outcome(async () => {
          const r = await armFetch(sb, "GET", rgs);
          return { status: r.status, headers: r.headers };
        }));
        // Another class is never faulted by this rule.
        expect((await armFetch(sb, "GET", sub)).status).toBe(200);
      }
      await post(sb.arm, "/_sandbox/faults", undefined, "DELETE");
      return out;
    };
    const first = await sequence();
    expect(await sequence()).toEqual(first);
    // The path holds the sandbox's random subscription id, so the draws differ between sandboxes:
    // the listener must serve exactly what the model draws for that path, and 60 requests at 0.5
    // show every outcome of the mix but with a chance of about 1 in 20,000.
    const model = new RandomFaults({ probability: fault.probability, seed: fault.seed, mix: MIX });
    const rgsPath = rgs.slice(0, rgs.indexOf("?"));
    const expected = first.map(() => label(model.draw("GET", rgsPath))).map((l) => (l === "ok" ? "200" : l));
    const labels = first.map((o) => o.label);
    expect(labels).toEqual(expected);
    expect(new Set(labels)).toEqual(new Set(["200", "429", "503", "reset"]));
    expect(first.filter((o) => o.label === "429").every((o) => o.retryAfter === "0")).toBe(true);
    expect(first.filter((o) => o.label === "503").every((o) => o.retryAfter === null)).toBe(true);
    // A rule may name its own Retry-After.
    await post(sb.arm, "/_sandbox/faults", { ...fault, probability: 1, mix: [{ status: 429 }], retryAfterSeconds: 1 });
    expect((await armFetch(sb, "GET", rgs)).headers.get("retry-after")).toBe("1");
    await post(sb.arm, "/_sandbox/faults", undefined, "DELETE");
    expect((await post(sb.arm, "/_sandbox/faults", { probability: 0.3, seed: 7 })).status).toBe(400);
  });

  test.each([
    ["dataverse", () => sb.dataverse, "/api/data/v9.2/fsi_caicompliancestates", "0x80072322"],
    ["graph", () => sb.graph, "/v1.0/servicePrincipals", "TooManyRequests"],
  ] as const)("%s: a random rule replays for its seed, in the service's dialect, and the listener counts what it served", async (_name, base, dataPath, throttleCode) => {
    // Unauthenticated reads: a fault answers before the token is checked, anything else is a 401.
    const read = () => outcome(() => fetch(`${base()}${dataPath}`));
    const sequence = async () => {
      const added = await post(base(), "/_sandbox/faults", { match: { method: "GET" }, probability: 0.4, seed: 11, mix: MIX });
      expect(added.status).toBe(201);
      expect(added.json).toMatchObject({ id: expect.any(Number), probability: 0.4, seed: 11 });
      await post(base(), "/_sandbox/served/reset");
      const out = [];
      for (let i = 0; i < 40; i++) out.push(await read());
      const counted = (await post(base(), "/_sandbox/served", undefined, "GET")).json;
      expect(counted).toMatchObject({ total: 40, writes: 0, faulted: out.filter((o) => o.label !== "401").length, byMethod: { GET: 40 } });
      // Not the class: never faulted.
      expect((await fetch(`${base()}${dataPath}`, { method: "POST", body: "{}" })).status).not.toBe(503);
      expect((await post(base(), "/_sandbox/faults", { mode: "ok" })).json).toEqual({ mode: "ok" });
      return out;
    };
    const first = await sequence();
    expect(await sequence()).toEqual(first);
    expect(new Set(first.map((o) => o.label))).toEqual(new Set(["401", "429", "503", "reset"]));
    expect(first.filter((o) => o.label === "429").every((o) => o.retryAfter === "0")).toBe(true);

    // The 429 is the service's throttling answer; GET lists rules beside the mode; DELETE clears.
    await post(base(), "/_sandbox/faults", { probability: 1, seed: 1, status: 429 });
    const res = await fetch(`${base()}${dataPath}`);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe(throttleCode);
    expect((await post(base(), "/_sandbox/faults", undefined, "GET")).json).toMatchObject({ mode: "ok", rules: [expect.objectContaining({ probability: 1, seed: 1 })] });
    expect((await post(base(), "/_sandbox/faults", undefined, "DELETE")).status).toBe(204);
    expect((await post(base(), "/_sandbox/faults", undefined, "GET")).json).toEqual({ mode: "ok" });
  });
});
