// Builds context objects from protocol messages.
using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using Aeg.Sandbox.Apim;
using Aeg.Sandbox.Apim.Runtime;
using Newtonsoft.Json.Linq;

namespace Aeg.Sandbox.Worker
{
    static class Messages
    {
        // context.new {context?, requestId?, timestamp?, request, deployment?, api?, operation?}
        public static ProxyRequestContext ContextFrom(JObject m)
        {
            var r = Json.Obj(m, "request");
            var request = new Request(
                Json.Str(r, "method"), Json.Str(r, "url"), HeadersFrom(r["headers"]), Json.OptStr(r, "body"), Json.OptStr(r, "ipAddress"));
            var requestId = Json.OptStr(m, "requestId");
            var timestamp = Json.OptStr(m, "timestamp");
            var context = new ProxyRequestContext(
                request,
                requestId == null ? Guid.NewGuid() : Guid.Parse(requestId),
                timestamp == null ? DateTime.UtcNow : ParseTime(timestamp));

            var d = m["deployment"] as JObject;
            context.Deployment = new Deployment
            {
                Region = Json.OptStr(d, "region"), ServiceName = Json.OptStr(d, "serviceName"), GatewayId = Json.OptStr(d, "gatewayId") ?? "managed",
            };
            var a = m["api"] as JObject;
            if (a != null)
            {
                var serviceUrl = Json.OptStr(a, "serviceUrl");
                context.Api = new Api
                {
                    Id = Json.OptStr(a, "id"), Name = Json.OptStr(a, "name"), Path = Json.OptStr(a, "path"),
                    ServiceUrl = serviceUrl == null ? null : new Url(serviceUrl),
                };
            }
            var o = m["operation"] as JObject;
            if (o != null)
            {
                context.Operation = new Operation
                {
                    Id = Json.OptStr(o, "id"), Name = Json.OptStr(o, "name"), Method = Json.OptStr(o, "method"), UrlTemplate = Json.OptStr(o, "urlTemplate"),
                };
            }
            return context;
        }

        // context.request {request: {method?, url?, headers?, body?, matchedParameters?}}: the gateway
        // reports what earlier policies changed, so later expressions see it.
        public static void UpdateRequest(Request request, JObject r)
        {
            if (r["method"] != null) request.Method = Json.Str(r, "method");
            if (r["url"] != null) request.Url = new Url(Json.Str(r, "url"));
            if (r["headers"] != null) request.Headers = HeadersFrom(r["headers"]);
            if (r["body"] != null) request.Body = new MessageBody(Json.OptStr(r, "body"));
            var matched = r["matchedParameters"] as JObject;
            if (matched != null)
            {
                var values = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
                foreach (var p in matched.Properties()) values[p.Name] = (string)p.Value;
                request.MatchedParameters = values;
            }
        }

        // {status, reason?, headers?, body?}
        public static Response ResponseFrom(JObject r)
        {
            var status = r["status"];
            if (status == null || status.Type != JTokenType.Integer) throw new FaultException("'status' must be an integer");
            return new Response((int)status, Json.OptStr(r, "reason") ?? "", HeadersFrom(r["headers"]), Json.OptStr(r, "body"));
        }

        public static LastError LastErrorFrom(JObject m)
        {
            return new LastError
            {
                Source = Json.OptStr(m, "source"), Reason = Json.OptStr(m, "reason"), Message = Json.OptStr(m, "message"),
                Scope = Json.OptStr(m, "scope"), Section = Json.OptStr(m, "section"), Path = Json.OptStr(m, "path"),
                PolicyId = Json.OptStr(m, "policyId"),
            };
        }

        // {name: [values]} or {name: value}
        public static Dictionary<string, string[]> HeadersFrom(JToken t)
        {
            var o = t as JObject;
            if (o == null) return HeaderMap.Create(null);
            return HeaderMap.Create(o.Properties().Select(p => new KeyValuePair<string, string[]>(p.Name, StringsFrom(p.Value))));
        }

        public static string[] StringsFrom(JToken t)
        {
            return t.Type == JTokenType.Array ? t.Children().Select(v => (string)v).ToArray() : new[] { (string)t };
        }

        public static DateTime ParseTime(string text)
        {
            return DateTimeOffset.Parse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal).UtcDateTime;
        }
    }
}
