// Typed variable values in (context.set) and a JSON view of results out (eval, context.variables).
using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using Aeg.Sandbox.Apim;
using Newtonsoft.Json;
using Newtonsoft.Json.Linq;

namespace Aeg.Sandbox.Worker
{
    static class Values
    {
        // {type, value?} for scalars; jwt {raw, claims?}; response {status, reason, headers, body}; json {value}.
        public static object From(JObject v)
        {
            var type = Json.Str(v, "type");
            var value = v["value"];
            switch (type)
            {
                case "null": return null;
                case "string": return Json.Str(v, "value");
                case "bool": return Scalar<bool>(value, JTokenType.Boolean, type);
                case "int": return checked((int)Scalar<long>(value, JTokenType.Integer, type));
                case "long": return Scalar<long>(value, JTokenType.Integer, type);
                case "double": return value != null && (value.Type == JTokenType.Integer || value.Type == JTokenType.Float)
                    ? value.Value<double>() : Bad<double>(type);
                case "guid": return Guid.Parse(Json.Str(v, "value"));
                case "datetime": return Messages.ParseTime(Json.Str(v, "value"));
                case "json": return value == null ? JValue.CreateNull() : value.DeepClone();
                case "response": return Messages.ResponseFrom(v);
                case "jwt":
                    var claims = v["claims"] as JObject;
                    return Jwt.Parse(Json.Str(v, "raw"), claims == null ? null : ClaimsFrom(claims));
                default: throw new FaultException("unknown value type '" + type + "'");
            }
        }

        static T Scalar<T>(JToken value, JTokenType expected, string type)
        {
            return value != null && value.Type == expected ? value.Value<T>() : Bad<T>(type);
        }

        static T Bad<T>(string type) { throw new FaultException("'value' does not fit type '" + type + "'"); }

        static IReadOnlyDictionary<string, string[]> ClaimsFrom(JObject claims)
        {
            var result = new Dictionary<string, string[]>(StringComparer.Ordinal);
            foreach (var p in claims.Properties()) result[p.Name] = Messages.StringsFrom(p.Value);
            return result;
        }

        // {value, valueType}: JSON scalars as such, anything else as its ToString().
        public static JObject Describe(object value)
        {
            JToken json;
            if (value == null) json = JValue.CreateNull();
            else if (value is string || value is bool || value is int || value is long || value is short
                || value is byte || value is sbyte || value is ushort || value is uint || value is ulong || value is decimal)
                json = new JValue(value);
            else if (value is double || value is float)
            {
                var d = Convert.ToDouble(value, CultureInfo.InvariantCulture);
                // NaN and infinities are not JSON numbers.
                json = double.IsNaN(d) || double.IsInfinity(d) ? (JToken)d.ToString(CultureInfo.InvariantCulture) : new JValue(d);
            }
            else json = value.ToString();
            return new JObject { ["value"] = json, ["valueType"] = value == null ? "null" : value.GetType().FullName };
        }
    }
}
