import { Engine, type EngineEvents } from "../engine/runner.js";
import { maxParallelWritesFrom } from "../engine/scheduler.js";
import type { RunOptions } from "../engine/step.js";
import { assertTemplatesValid } from "../policy/template-lint.js";
import { loadTemplates, type TemplateSet } from "../policy/templates.js";
import { SETUP_STEPS } from "../steps/index.js";
import { STEP_ROLES } from "../steps/roles.js";
import type { Session } from "./session.js";

/**
 * The setup engine of a session, built the same way for `setup` and `doctor`: the templates are
 * loaded and linted first, so a broken one stops the run before any read or write.
 */
export async function setupEngine(session: Session, events: EngineEvents, run: { options: RunOptions; signal: AbortSignal; templates?: TemplateSet }): Promise<Engine> {
  // A saved plan brings the templates it was made with; otherwise they are read from disk.
  const templates = run.templates ?? (await loadTemplates(session.templatesDir));
  assertTemplatesValid(templates, session.config, session.cloud);
  const { arm, identity, config } = session;
  return new Engine(
    SETUP_STEPS,
    {
      config,
      cloud: session.cloud,
      templates,
      clients: {
        credential: session.credential,
        apim: arm.apim,
        eventHub: arm.eventHub,
        authorization: arm.authorization,
        resources: arm.resources,
        graph: identity.graph,
        dataverse: identity.dataverse(config.dataverse.url),
      },
      journal: session.journal,
      pollIntervalMs: session.pollIntervalMs,
      signal: run.signal,
      options: run.options,
      maxParallelWrites: maxParallelWritesFrom(process.env),
    },
    events,
    STEP_ROLES,
  );
}

export const NO_SOFT_DELETE_CHOICE: RunOptions = { recoverSoftDeleted: false, purgeSoftDeleted: false };
