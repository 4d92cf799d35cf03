/**
 * How aeg writes and reads policy documents: as `xml`, an ordinary XML document whose entities
 * (`&amp;&amp;`, `&lt;`) decode to the C# the expressions mean. `rawxml` leaves it open whether
 * entities inside an expression are decoded, and reading back in the other format encodes twice
 * (reference: entra-apim-policy.md A2). Writing and reading the same format, and comparing
 * canonically, keeps drift checks exact.
 */
export const POLICY_FORMAT = "xml" as const;
