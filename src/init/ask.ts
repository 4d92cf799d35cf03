import { confirm, input, select } from "@inquirer/prompts";
import { fieldProblem } from "../config/field.js";
import type { DirectoryGroup } from "../azure/graph.js";
import { formatPath } from "../config/load.js";
import { defaultNamespace } from "./fields.js";
import type { Discovery } from "./discovery.js";
import { setAt, valueAt } from "./values.js";

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const SKUS = ["Developer", "Basic", "Standard", "Premium", "Consumption", "BasicV2", "StandardV2", "PremiumV2"];
const NEW = "\u0000new";

/** Prompts draw on stderr: stdout carries only the --json envelope. */
const io = { output: process.stderr };
const say = (line: string) => process.stderr.write(`${line}\n`);

/**
 * The interactive questions, in the order a person thinks about them, each answer checked by
 * the schema's own rule for its field. Fields already given (flags, AEG_* variables) are not
 * asked. Returns the answers merged into `start`, and notes for the file's comments.
 */
export async function askForConfiguration(d: Discovery, start: Record<string, unknown>, given: Set<string>): Promise<{ raw: Record<string, unknown>; notes: Record<string, string> }> {
  const raw = structuredClone(start);
  const notes: Record<string, string> = {};
  const has = (path: string[]) => given.has(formatPath(path));
  const ask = async (path: string[], message: string, fallback?: string) => {
    if (has(path)) return String(valueAt(raw, path));
    const current = valueAt(raw, path);
    const answer = await input({ message, default: typeof current === "string" ? current : fallback, validate: (v) => fieldProblem(path, v.trim()) ?? true }, io);
    setAt(raw, path, answer.trim());
    return answer.trim();
  };

  // Where: subscription, resource group, APIM instance (reused or new).
  const subscriptionId = has(["subscriptionId"]) ? String(valueAt(raw, ["subscriptionId"])) : await askSubscription(d, raw);
  const groups = has(["resourceGroup"]) ? [] : await d.resourceGroups(subscriptionId);
  const group = groups.length > 0 ? await select({ message: "Resource group", choices: [...groups.map((g) => ({ name: `${g.name} (${g.location})`, value: g.name })), { name: "a new resource group…", value: NEW }] }, io) : NEW;
  if (group === NEW) {
    await ask(["resourceGroup"], "New resource group name");
    await ask(["location"], "Azure region", "westeurope");
  } else {
    setAt(raw, ["resourceGroup"], group);
    if (!has(["location"])) setAt(raw, ["location"], groups.find((g) => g.name === group)!.location);
  }
  const services = group === NEW || has(["apim", "name"]) ? [] : await d.apimServices(subscriptionId, group);
  const reuse = services.length > 0 ? await select({ message: "API Management instance", choices: [...services.map((s) => ({ name: `${s.name} (${s.sku}): reuse it`, value: s.name })), { name: "a new instance…", value: NEW }] }, io) : NEW;
  const existing = services.find((s) => s.name === reuse);
  if (existing) {
    for (const [key, value] of Object.entries({ name: existing.name, sku: existing.sku, publisherName: existing.publisherName, publisherEmail: existing.publisherEmail })) setAt(raw, ["apim", key], value);
  } else {
    await ask(["apim", "name"], "New APIM instance name (globally unique)");
    if (!has(["apim", "sku"])) setAt(raw, ["apim", "sku"], await select({ message: "APIM tier", choices: SKUS.map((s) => ({ name: s, value: s })), default: String(valueAt(raw, ["apim", "sku"]) ?? "Developer") }, io));
    await ask(["apim", "publisherName"], "Publisher name (shown in the developer portal)");
    await ask(["apim", "publisherEmail"], "Publisher e-mail (APIM's notifications go there)");
  }

  // Who: each agent and the Entra group whose members may use it.
  if (!has(["agents"])) {
    const agents: Array<{ id: string; audienceGroupId: string }> = [];
    do {
      const i = agents.length;
      const id = (await input({ message: `Agent ${i + 1}: its id (as the governance store names it)`, validate: (v) => fieldProblem(["agents", i, "id"], v.trim()) ?? true }, io)).trim();
      const group = await askGroup(d, id);
      agents.push({ id, audienceGroupId: group.id });
      if (group.displayName) notes[`agents[${i}].audienceGroupId`] = group.displayName;
    } while (await confirm({ message: "Add another agent?", default: false }, io));
    setAt(raw, ["agents"], agents);
  }

  // What the gateway accepts and where it forwards.
  if (!has(["gateway", "audiences"])) {
    const current = valueAt(raw, ["gateway", "audiences"]);
    const audiences = await input(
      {
        message: "Accepted token audiences (App ID URI and/or client id, comma-separated)",
        ...(Array.isArray(current) ? { default: current.join(", ") } : {}),
        validate: (v) => fieldProblem(["gateway", "audiences"], split(v)) ?? true,
      },
      io,
    );
    setAt(raw, ["gateway", "audiences"], split(audiences));
  }
  await ask(["gateway", "backendUrl"], "Backend URL (where allowed requests go)");
  await ask(["gateway", "apiPath"], "API path on the gateway");
  if (!has(["gateway", "channel"])) {
    const channels = ["custom-web", "direct-line"];
    setAt(raw, ["gateway", "channel"], await select({ message: "Channel", choices: channels.map((c) => ({ name: c, value: c })), default: String(valueAt(raw, ["gateway", "channel"]) ?? "custom-web") }, io));
  }
  // Named after the instance chosen above, unless given.
  if (!has(["telemetry", "namespace"])) setAt(raw, ["telemetry", "namespace"], defaultNamespace(String(valueAt(raw, ["apim", "name"]))));
  await ask(["telemetry", "namespace"], "Event Hubs namespace for decision records (globally unique)");

  // The governance store, checked by signing in to it.
  if (!has(["dataverse", "url"])) {
    for (;;) {
      const url = await ask(["dataverse", "url"], "Dataverse environment URL of the governance store");
      try {
        const me = await d.whoAmI(url);
        say(`Signed in to ${url}: WhoAmI answered systemuser ${me.UserId}.`);
        break;
      } catch (err) {
        say(`WhoAmI at ${url} failed: ${firstLine(err)}`);
        if (await confirm({ message: "Keep this URL anyway?", default: false }, io)) break;
      }
    }
  }
  return { raw, notes };
}

async function askSubscription(d: Discovery, raw: Record<string, unknown>): Promise<string> {
  const subscriptions = (await d.subscriptions()).filter((s) => s.state !== "Disabled");
  let chosen = subscriptions[0];
  if (subscriptions.length === 0) {
    say("No subscription is visible to this sign-in; type its id.");
    const id = await input({ message: "Subscription id", validate: (v) => fieldProblem(["subscriptionId"], v.trim()) ?? true }, io);
    setAt(raw, ["subscriptionId"], id.trim());
    setAt(raw, ["tenantId"], (await input({ message: "Tenant id", validate: (v) => fieldProblem(["tenantId"], v.trim()) ?? true }, io)).trim());
    return id.trim();
  }
  if (subscriptions.length > 1) chosen = await select({ message: "Subscription", choices: subscriptions.map((s) => ({ name: `${s.displayName} (${s.subscriptionId})`, value: s })) }, io);
  else say(`Subscription: ${chosen!.displayName} (${chosen!.subscriptionId}), the only one this sign-in sees.`);
  setAt(raw, ["subscriptionId"], chosen!.subscriptionId);
  if (valueAt(raw, ["tenantId"]) === undefined || !GUID.test(String(valueAt(raw, ["tenantId"])))) setAt(raw, ["tenantId"], chosen!.tenantId);
  return chosen!.subscriptionId;
}

/** A group found by name through Graph's search, or pasted as an object id. */
async function askGroup(d: Discovery, agentId: string): Promise<{ id: string; displayName?: string }> {
  for (;;) {
    const text = (await input({ message: `Audience group of ${agentId}: part of its name, or its object id`, validate: (v) => (v.trim() ? true : "type part of the group's name, or its object id") }, io)).trim();
    if (GUID.test(text)) return { id: text.toLowerCase() };
    let found: DirectoryGroup[];
    try {
      found = await d.searchGroups(text);
    } catch (err) {
      say(`Group search failed (${firstLine(err)}): paste the group's object id instead.`);
      continue;
    }
    if (found.length === 0) {
      say(`No group has a name with a word starting "${text}".`);
      continue;
    }
    const pick = await select<DirectoryGroup | undefined>({ message: "Which group?", choices: [...found.map((g) => ({ name: `${g.displayName} (${g.id})`, value: g })), { name: "search again", value: undefined }] }, io);
    if (pick) return { id: pick.id, displayName: pick.displayName };
  }
}

function split(text: string): string[] {
  return text.split(",").map((s) => s.trim()).filter(Boolean);
}

function firstLine(err: unknown): string {
  return ((err as Error).message ?? String(err)).split("\n")[0]!;
}
