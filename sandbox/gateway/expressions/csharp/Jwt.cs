// Jwt as APIM exposes it: a parsed (not validated) token with claims as string arrays.
using System;
using System.Collections.Generic;
using System.Linq;
using System.Text;
using Newtonsoft.Json;
using Newtonsoft.Json.Linq;

namespace Aeg.Sandbox.Apim
{
    public sealed class Jwt
    {
        readonly JObject header;
        readonly JObject payload;

        /// <summary>The raw compact token, for the worker and for debugging.</summary>
        public string Raw { get; private set; }

        public string Algorithm { get { return Text(header, "alg"); } }
        public string Type { get { return Text(header, "typ"); } }
        public IEnumerable<string> Audiences { get { return ClaimValues("aud"); } }
        public IReadOnlyDictionary<string, string[]> Claims { get; private set; }
        public DateTime? ExpirationTime { get { return Time("exp"); } }
        public string Id { get { return Text(payload, "jti"); } }
        public string Issuer { get { return Text(payload, "iss"); } }
        public DateTime? IssuedAt { get { return Time("iat"); } }
        public DateTime? NotBefore { get { return Time("nbf"); } }
        public string Subject { get { return Text(payload, "sub"); } }

        Jwt(string raw, JObject header, JObject payload, IReadOnlyDictionary<string, string[]> claims)
        {
            Raw = raw;
            this.header = header;
            this.payload = payload;
            Claims = claims ?? ClaimsOf(payload);
        }

        /// <summary>Parses a compact JWS; claims default to the payload's. Throws on a malformed token.</summary>
        public static Jwt Parse(string raw, IReadOnlyDictionary<string, string[]> claims = null)
        {
            var parts = (raw ?? "").Split('.');
            if (parts.Length != 3) throw new FormatException("A JWT has three dot-separated parts.");
            return new Jwt(raw, Segment(parts[0]), Segment(parts[1]), claims);
        }

        public override string ToString() { return Raw; }

        IEnumerable<string> ClaimValues(string name)
        {
            string[] values;
            return Claims.TryGetValue(name, out values) ? values : new string[0];
        }

        DateTime? Time(string name)
        {
            JToken t;
            if (!payload.TryGetValue(name, out t) || t.Type != JTokenType.Integer && t.Type != JTokenType.Float) return null;
            return new DateTime(1970, 1, 1, 0, 0, 0, DateTimeKind.Utc).AddSeconds(t.Value<double>());
        }

        static string Text(JObject o, string name)
        {
            JToken t;
            return o.TryGetValue(name, out t) ? Scalar(t) : null;
        }

        // Arrays become several values; objects stay as compact JSON (how APIM renders those is unverified).
        static IReadOnlyDictionary<string, string[]> ClaimsOf(JObject payload)
        {
            var claims = new Dictionary<string, string[]>(StringComparer.Ordinal);
            foreach (var p in payload.Properties())
                claims[p.Name] = p.Value.Type == JTokenType.Array
                    ? p.Value.Children().Select(Scalar).ToArray()
                    : new[] { Scalar(p.Value) };
            return claims;
        }

        static string Scalar(JToken t)
        {
            return t.Type == JTokenType.String ? t.Value<string>() : t.ToString(Formatting.None);
        }

        static JObject Segment(string part)
        {
            var b64 = part.Replace('-', '+').Replace('_', '/');
            b64 += new string('=', (4 - b64.Length % 4) % 4);
            var json = Encoding.UTF8.GetString(System.Convert.FromBase64String(b64));
            var reader = new JsonTextReader(new System.IO.StringReader(json)) { DateParseHandling = DateParseHandling.None };
            return JObject.Load(reader);
        }
    }

    public static class JwtExtensions
    {
        /// <summary>Parses without validating; null when the text is not a JWT.</summary>
        public static Jwt AsJwt(this string text)
        {
            Jwt jwt;
            return TryParseJwt(text, out jwt) ? jwt : null;
        }

        public static bool TryParseJwt(this string text, out Jwt jwt)
        {
            jwt = null;
            if (string.IsNullOrEmpty(text)) return false;
            try { jwt = Jwt.Parse(text); return true; }
            catch (Exception) { return false; }
        }
    }
}
