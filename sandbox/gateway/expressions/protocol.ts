// Message shapes shared by the TypeScript client and the C# worker (csharp/worker/*.cs).

/** One policy expression: `@( code )` is "expr", `@{ code }` is "block" (code without the delimiters). */
export interface ExpressionSource {
  id: string;
  kind: "expr" | "block";
  code: string;
}

/** A compiler error; line/column are 1-based within the expression's code (1,1 for errors in the
 *  generated scaffolding, such as a block that does not return on every path). id is null for unit-level errors. */
export interface CompileError {
  id: string | null;
  line: number | null;
  column: number | null;
  code: string | null;
  message: string;
}

export type CompileResult =
  | { ok: true; cached: "memory" | "disk" | "none"; compileMs?: number }
  | { ok: false; errors: CompileError[] };

export type Headers = Record<string, string[] | string>;

export interface RequestInit {
  method: string;
  url: string;
  headers?: Headers;
  body?: string | null;
  ipAddress?: string | null;
}

export interface ContextInit {
  /** Defaults to a fresh Guid. */
  requestId?: string;
  /** ISO time the request was received; defaults to now. */
  timestamp?: string;
  request: RequestInit;
  deployment?: { region?: string; serviceName?: string; gatewayId?: string };
  api?: { id?: string; name?: string; path?: string; serviceUrl?: string };
  operation?: { id?: string; name?: string; method?: string; urlTemplate?: string };
}

/** What earlier policies changed in the request (set-header, rewrite-uri, set-body, ...). */
export interface RequestUpdate {
  method?: string;
  url?: string;
  headers?: Headers;
  body?: string | null;
  matchedParameters?: Record<string, string>;
}

export interface ResponseInit {
  status: number;
  reason?: string;
  headers?: Headers;
  body?: string | null;
}

export interface LastErrorInit {
  source?: string;
  reason?: string;
  message?: string;
  scope?: string;
  section?: string;
  path?: string;
  policyId?: string;
}

/** A typed variable value, as it will be seen by expressions. */
export type VariableValue =
  | { type: "null" }
  | { type: "string"; value: string }
  | { type: "bool"; value: boolean }
  | { type: "int" | "long" | "double"; value: number }
  | { type: "guid" | "datetime"; value: string }
  | { type: "json"; value: unknown }
  /** A Jwt from the raw token; claims default to the token payload's. */
  | { type: "jwt"; raw: string; claims?: Record<string, string | string[]> }
  /** An IResponse, as send-request stores it. */
  | ({ type: "response" } & ResponseInit);

/** A result as JSON: strings, numbers, booleans and null as such, other objects as ToString(). */
export interface Described {
  value: string | number | boolean | null;
  /** The .NET type's full name, or "null". */
  valueType: string;
}

export type EvalResult =
  | ({ ok: true } & Described)
  /** The expression threw: the gateway's ExpressionValueEvaluationFailure. */
  | { ok: false; error: { type: string; message: string } };

export interface ContextDump {
  variables: Record<string, Described>;
  traces: string[];
}
