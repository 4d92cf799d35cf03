import type { StepReport } from "../engine/change.js";
import { Engine, type BaseContext, type EngineEvents } from "../engine/runner.js";
import { maxParallelWritesFrom } from "../engine/scheduler.js";
import type { RunOptions } from "../engine/step.js";
import { ExitCode, UserError } from "../errors.js";
import { assertTemplatesValid } from "../policy/template-lint.js";
import { loadTemplates, type TemplateSet } from "../policy/templates.js";
import type { Reporter } from "../render/reporters.js";
import { SETUP_STEPS } from "../steps/index.js";
import { STEP_ROLES } from "../steps/roles.js";
import { TEARDOWN_STEPS } from "../steps/teardown/index.js";
import type { Session } from "./session.js";

interface Run {
  options: RunOptions;
  signal: AbortSignal;
}

/**
 * The setup engine of a session, built the same way for `setup` and `doctor`: the templates are
 * loaded and linted first, so a broken one stops the run before any read or write.
 */
export async function setupEngine(session: Session, events: EngineEvents, run: Run & { templates?: TemplateSet }): Promise<Engine> {
  // A saved plan brings the templates it was made with; otherwise they are read from disk.
  const templates = run.templates ?? (await loadTemplates(session.templatesDir));
  assertTemplatesValid(templates, session.config, session.cloud);
  return new Engine(SETUP_STEPS, baseContext(session, templates, run), events, STEP_ROLES);
}

/**
 * The teardown engine: the same engine over TEARDOWN_STEPS. It uploads nothing, so aeg's own
 * templates stand in (a broken or missing templatesDir must not stop a teardown).
 */
export async function teardownEngine(session: Session, events: EngineEvents, run: Run): Promise<Engine> {
  return new Engine(TEARDOWN_STEPS, baseContext(session, await loadTemplates(), run), events, STEP_ROLES);
}

function baseContext(session: Session, templates: TemplateSet, run: Run): BaseContext {
  const { arm, identity, config } = session;
  return {
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
  };
}

export const NO_SOFT_DELETE_CHOICE: RunOptions = { recoverSoftDeleted: false, purgeSoftDeleted: false };

/** How an applied plan ended: what was applied, and the first failure with its exit code. */
export interface AppliedRun {
  applied: StepReport[];
  failure?: { error: Error; exitCode: number };
}

/**
 * Applies a plan with the reporter's progress (setup, teardown and apply alike). When a step
 * fails it says what stopped the run and why, the error's hint, then `next`: how to go on.
 */
export async function applyReporting(engine: Engine, reporter: Reporter, plan: StepReport[], run: { what: string; next: string }): Promise<AppliedRun> {
  reporter.beginApply(engine.steps);
  const applied = await engine.apply(plan);
  await reporter.endApply();
  const error = engine.firstFailure;
  if (!error) return { applied };
  reporter.say(`${run.what} stopped: ${error.message}`);
  if (error instanceof UserError && error.hint) reporter.say(error.hint);
  reporter.say(run.next);
  return { applied, failure: { error, exitCode: error instanceof UserError ? error.exitCode : ExitCode.unexpected } };
}
