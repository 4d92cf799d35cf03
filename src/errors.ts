/**
 * One error hierarchy for everything a user can see. A UserError carries the documented exit code
 * and a message of one or two lines naming the field, flag or permission at fault and what to do.
 * Anything else is a bug (exit 1) and is shown with its stack only under --debug.
 */
export const ExitCode = {
  ok: 0,
  unexpected: 1,
  usage: 2,
  auth: 3,
  drift: 4,
  validation: 5,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export class UserError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCode,
    readonly hint?: string,
  ) {
    super(message);
    this.name = "UserError";
  }
}

/** Bad configuration or usage: exit 2. */
export class ConfigError extends UserError {
  constructor(
    readonly problems: string[],
    hint?: string,
  ) {
    super(problems.join("\n"), ExitCode.usage, hint);
    this.name = "ConfigError";
  }
}

/** Authentication failed or a permission is missing: exit 3. */
export class PermissionError extends UserError {
  constructor(message: string, hint?: string) {
    super(message, ExitCode.auth, hint);
    this.name = "PermissionError";
  }
}
