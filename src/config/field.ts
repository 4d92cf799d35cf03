import type { z } from "zod";
import { ConfigSchema } from "./schema.js";

/**
 * The schema of one field, found by its path in the configuration schema (`["agents", 0, "id"]`),
 * so a value typed at a prompt is checked by exactly the rule setup applies to the file.
 */
function fieldSchema(path: (string | number)[]): z.ZodType {
  let schema = ConfigSchema as unknown as z.ZodType;
  for (const segment of path) {
    schema = unwrap(schema);
    const def = (schema as unknown as { _zod: { def: { shape?: Record<string, z.ZodType>; element?: z.ZodType } } })._zod.def;
    const next = typeof segment === "number" ? def.element : def.shape?.[segment];
    if (!next) throw new Error(`the configuration schema has no field ${path.join(".")}`);
    schema = next;
  }
  return schema;
}

/** Through optional(), default() and the like, to the schema that holds the shape. */
function unwrap(schema: z.ZodType): z.ZodType {
  let current = schema as unknown as { _zod: { def: { innerType?: z.ZodType } } };
  while (current._zod.def.innerType) current = current._zod.def.innerType as unknown as typeof current;
  return current as unknown as z.ZodType;
}

/** The schema's complaint about a value for this field, or undefined when it is valid. */
export function fieldProblem(path: (string | number)[], value: unknown): string | undefined {
  const parsed = fieldSchema(path).safeParse(value);
  return parsed.success ? undefined : parsed.error.issues[0]?.message;
}
