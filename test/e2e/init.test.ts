// aeg init end to end: --ci and --sandbox from flags, and the interactive questions typed into a
// pseudo-terminal, each against a sandbox tenant the CLI starts in a folder of its own.
import { existsSync } from "node:fs";
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { isMap, isScalar, isSeq, parseDocument, type Scalar } from "yaml";
import { resolveConfig } from "../../src/config/load.js";
import { runAeg } from "../support/cli.js";
import { Pty } from "../support/pty.js";
import { clients, startTestSandbox } from "../support/sandbox.js";

const KB_GROUP = "11111111-2222-3333-4444-555555555555";
const folder = () => mkdtemp(path.join(os.tmpdir(), "aeg-init-"));
const env = { ...process.env, NO_COLOR: "1", AEG_POLL_INTERVAL_MS: "50" };

/** Every key of the written file, with whether it carries a comment (beside it, or above a block). */
function commented(text: string): Array<[string, boolean]> {
  const out: Array<[string, boolean]> = [];
  const walk = (node: unknown, prefix: string) => {
    if (isSeq(node)) node.items.forEach((item, i) => walk(item, `${prefix}[${i}]`));
    if (!isMap(node)) return;
    for (const [i, pair] of node.items.entries()) {
      const key = `${prefix}${prefix ? "." : ""}${String((pair.key as Scalar).value)}`;
      // A comment above a block's first key is read back onto the block itself.
      const above = (pair.key as Scalar).commentBefore ?? (i === 0 ? node.commentBefore : undefined);
      out.push([key, Boolean((isScalar(pair.value) && pair.value.comment) || above)]);
      walk(pair.value, key);
    }
  };
  walk(parseDocument(text).contents, "");
  return out;
}

describe("aeg init", () => {
  it("--sandbox --ci in an empty folder writes an aeg.yaml, every field commented, that setup --sandbox then uses", async () => {
    const cwd = await folder();
    const run = await runAeg(["init", "--sandbox", "--ci", "--apim-name", "apim-from-init", "--json"], { cwd, env });
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ command: "init", status: "written", exitCode: 0, sandbox: true, apim: "apim-from-init" });
    const text = await readFile(path.join(cwd, "aeg.yaml"), "utf8");
    const keys = commented(text);
    expect(keys.map(([key]) => key)).toEqual(expect.arrayContaining(["subscriptionId", "apim.publisherEmail", "gateway.audiences", "gateway.storeTimeoutSeconds", "agents[1].audienceGroupId", "telemetry.partitionCount", "dataverse.decisionLog.enabled", "graphFallback.enabled"]));
    expect(keys.filter(([, has]) => !has).map(([key]) => key)).toEqual([]);
    // Valid on its own, by the schema setup uses; the namespace is named after the instance.
    const config = resolveConfig(parseDocument(text).toJS() as Record<string, unknown>);
    expect(config.telemetry.namespace).toBe("ehns-apim-from-init");

    const setup = await runAeg(["setup", "--sandbox", "--ci", "--skip-validation", "--json"], { cwd, env });
    expect(setup.code, setup.stderr).toBe(0);
    const out = JSON.parse(setup.stdout) as { notes: string[]; steps: Array<{ id: string; status: string; changes: Array<{ resource: string }> }> };
    expect(out.notes.join(" ")).not.toMatch(/sample/);
    expect(out.steps.find((s) => s.id === "apim")).toMatchObject({ status: "created", changes: [{ resource: "service/apim-from-init" }] });
  });

  it("an existing file is not overwritten without --force (exit 2)", async () => {
    const cwd = await folder();
    await writeFile(path.join(cwd, "aeg.yaml"), "# mine\n");
    const again = await runAeg(["init", "--sandbox", "--ci"], { cwd, env });
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/aeg\.yaml exists: aeg init does not overwrite a configuration\nPass --force/);
    expect(await readFile(path.join(cwd, "aeg.yaml"), "utf8")).toBe("# mine\n");
    expect(existsSync(path.join(cwd, ".aeg"))).toBe(false); // refused before any sandbox started
    expect((await runAeg(["init", "--sandbox", "--ci", "--force"], { cwd, env })).code).toBe(0);
    expect(await readFile(path.join(cwd, "aeg.yaml"), "utf8")).toMatch(/^# aeg configuration for the local sandbox tenant/);
  });

  it("--ci names every missing value by flag and variable (exit 2) and writes nothing; a bad one is named by its flag", async () => {
    const cwd = await folder();
    const given = ["--subscription", "00000000-1111-2222-3333-444444444444", "--resource-group", "rg-x", "--location", "westeurope", "--apim-name", "apim-x", "--publisher-name", "X", "--publisher-email", "x@example.com"];
    const run = await runAeg(["init", "--ci", ...given], { cwd, env: { ...env, AEG_AUDIENCES: "api://x" } });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("--tenant (or AEG_TENANT_ID): required under --ci (tenantId)");
    expect(run.stderr).toContain("--agent (or AEG_AGENTS): required under --ci (agents)");
    expect(run.stderr).not.toContain("--audience");
    expect(existsSync(path.join(cwd, "aeg.yaml"))).toBe(false);

    const rest = ["--tenant", "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee", "--agent", `kb=${KB_GROUP}`, "--dataverse-url", "https://org.crm.dynamics.com"];
    const bad = await runAeg(["init", "--ci", ...given, ...rest, "--backend-url", "agents.example.com"], { cwd, env: { ...env, AEG_AUDIENCES: "api://x" } });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("--backend-url (gateway.backendUrl): not a URL");
    const good = await runAeg(["init", "--ci", ...given, ...rest, "--backend-url", "https://agents.example.com"], { cwd, env: { ...env, AEG_AUDIENCES: "api://x, 5d9a4f6e-0c1b-4d7a-9b38-2f1e6c7a8b90" } });
    expect(good.code, good.stderr).toBe(0);
    const config = resolveConfig(parseDocument(await readFile(path.join(cwd, "aeg.yaml"), "utf8")).toJS() as Record<string, unknown>);
    expect(config).toMatchObject({ resourceGroup: "rg-x", gateway: { audiences: ["api://x", "5d9a4f6e-0c1b-4d7a-9b38-2f1e6c7a8b90"], apiPath: "agents", channel: "custom-web" }, agents: [{ id: "kb", audienceGroupId: KB_GROUP }] });
  });

  it("in a terminal it lists, asks and checks: answers typed through a pseudo-terminal end up in the file", async () => {
    const cwd = await folder();
    // A tenant with a resource group and an APIM instance in it, to be listed and reused.
    const stateDir = path.join(cwd, ".aeg", "sandbox");
    const { sb } = await startTestSandbox({ stateDir, apimActivationMs: 0 });
    const arm = clients(sb);
    await arm.resources.resourceGroups.createOrUpdate("rg-existing", { location: "northeurope" });
    await arm.apim.apiManagementService.beginCreateOrUpdateAndWait("rg-existing", "apim-existing", { location: "northeurope", sku: { name: "Developer", capacity: 1 }, publisherName: "Fabrikam", publisherEmail: "apis@fabrikam.example" }, { updateIntervalInMs: 5 });
    await sb.close();

    const pty = Pty.spawn([process.execPath, path.resolve("bin/run.js"), "init", "--sandbox"], { cwd, env });
    try {
      await pty.expect(/Subscription: aeg sandbox subscription/);
      await pty.expect(/Resource group[\s\S]*rg-existing \(northeurope\)/);
      pty.type("\r");
      await pty.expect(/API Management instance[\s\S]*apim-existing \(Developer\): reuse it/);
      pty.type("\r");
      await pty.expect(/Agent 1: its id/);
      pty.type("kb-from-pty\r");
      await pty.expect(/Audience group of kb-from-pty/);
      pty.type("nosuchgroup\r");
      await pty.expect(/No group has a name with a word starting "nosuchgroup"/);
      await pty.expect(/Audience group of kb-from-pty/);
      pty.type("kb\r");
      await pty.expect(/Which group\?[\s\S]*KB Assistant Users \(11111111-2222-3333-4444-555555555555\)/);
      pty.type("\r");
      await pty.expect(/Add another agent\?/);
      pty.type("y\r");
      await pty.expect(/Agent 2: its id/);
      pty.type("hr-from-pty\r");
      await pty.expect(/Audience group of hr-from-pty/);
      pty.type("66666666-7777-8888-9999-000000000000\r");
      await pty.expect(/Add another agent\?/);
      pty.type("n\r");
      await pty.expect(/Accepted token audiences/);
      pty.type("\r");
      await pty.expect(/Backend URL/);
      pty.type("agents.fabrikam.example\r");
      await pty.expect(/not a URL/); // the schema's own rule, at the prompt
      pty.type("\x15https://agents.fabrikam.example/api\r"); // Ctrl+U clears the line first
      await pty.expect(/API path on the gateway/);
      pty.type("\r");
      await pty.expect(/Channel/);
      pty.type("\r");
      await pty.expect(/Event Hubs namespace/);
      pty.type("\r");
      await pty.expect(/Dataverse environment URL/);
      pty.type("\r");
      await pty.expect(/Signed in to https:\/\/127\.0\.0\.1:\d+: WhoAmI answered systemuser/);
      await pty.expect(/Wrote aeg\.yaml: APIM instance apim-existing, 2 agents/);
      expect(await pty.exited).toBe(0);
    } finally {
      pty.kill();
    }
    const text = await readFile(path.join(cwd, "aeg.yaml"), "utf8");
    expect(text).toMatch(/audienceGroupId: 11111111-2222-3333-4444-555555555555 # Entra group whose members may use the agent: KB Assistant Users/);
    expect(commented(text).filter(([, has]) => !has)).toEqual([]);
    const config = resolveConfig(parseDocument(text).toJS() as Record<string, unknown>);
    expect(config).toMatchObject({
      subscriptionId: sb.subscriptionId,
      tenantId: sb.tenantId,
      resourceGroup: "rg-existing",
      location: "northeurope",
      apim: { name: "apim-existing", publisherName: "Fabrikam", publisherEmail: "apis@fabrikam.example" },
      gateway: { backendUrl: "https://agents.fabrikam.example/api" },
      agents: [
        { id: "kb-from-pty", audienceGroupId: KB_GROUP },
        { id: "hr-from-pty", audienceGroupId: "66666666-7777-8888-9999-000000000000" },
      ],
      telemetry: { namespace: "ehns-apim-existing" },
      dataverse: { url: sb.dataverse },
    });
  });

  it("Ctrl+C at a question writes nothing", async () => {
    const cwd = await folder();
    const pty = Pty.spawn([process.execPath, path.resolve("bin/run.js"), "init", "--sandbox"], { cwd, env });
    try {
      await pty.expect(/New resource group name/);
      pty.type("\x03");
      await pty.expect(/Cancelled: nothing was written/);
      expect(await pty.exited).toBe(130);
    } finally {
      pty.kill();
    }
    expect(existsSync(path.join(cwd, "aeg.yaml"))).toBe(false);
  });
});
