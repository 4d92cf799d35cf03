// Mutable implementations of the context interfaces, filled in by the sandbox worker.
// They live in their own namespace so that generated expression code, which imports only
// Aeg.Sandbox.Apim, cannot construct them or see their setters.
using System;
using System.Collections.Generic;
using System.Linq;

namespace Aeg.Sandbox.Apim.Runtime
{
    public sealed class Url : IUrl
    {
        readonly Uri uri;
        readonly Dictionary<string, string[]> query;

        public Url(string absoluteUrl)
        {
            uri = new Uri(absoluteUrl, UriKind.Absolute);
            query = ParseQuery(uri.Query);
        }

        public string Host { get { return uri.Host; } }
        public string Path { get { return uri.AbsolutePath; } }
        public int Port { get { return uri.Port; } }
        public IReadOnlyDictionary<string, string[]> Query { get { return query; } }
        public string QueryString { get { return uri.Query; } }
        public string Scheme { get { return uri.Scheme; } }
        public override string ToString() { return uri.AbsoluteUri; }

        static Dictionary<string, string[]> ParseQuery(string queryString)
        {
            var pairs = queryString.TrimStart('?').Split(new[] { '&' }, StringSplitOptions.RemoveEmptyEntries)
                .Select(part =>
                {
                    var eq = part.IndexOf('=');
                    var key = eq < 0 ? part : part.Substring(0, eq);
                    var value = eq < 0 ? "" : part.Substring(eq + 1);
                    return new KeyValuePair<string, string>(Decode(key), Decode(value));
                });
            var result = new Dictionary<string, string[]>(StringComparer.OrdinalIgnoreCase);
            foreach (var group in pairs.GroupBy(p => p.Key, StringComparer.OrdinalIgnoreCase))
                result[group.Key] = group.Select(p => p.Value).ToArray();
            return result;
        }

        static string Decode(string s) { return Uri.UnescapeDataString(s.Replace('+', ' ')); }
    }

    public static class HeaderMap
    {
        // Header names are case-insensitive in HTTP and in APIM's dictionaries.
        public static Dictionary<string, string[]> Create(IEnumerable<KeyValuePair<string, string[]>> entries)
        {
            var result = new Dictionary<string, string[]>(StringComparer.OrdinalIgnoreCase);
            if (entries == null) return result;
            foreach (var e in entries)
            {
                string[] existing;
                result[e.Key] = result.TryGetValue(e.Key, out existing) ? existing.Concat(e.Value).ToArray() : e.Value;
            }
            return result;
        }
    }

    public sealed class Request : IRequest
    {
        public Request(string method, string url, Dictionary<string, string[]> headers, string body, string ipAddress)
        {
            Method = method;
            Url = new Url(url);
            OriginalUrl = Url;
            Headers = headers;
            Body = new MessageBody(body);
            IpAddress = ipAddress;
            MatchedParameters = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        }

        public IMessageBody Body { get; set; }
        public IReadOnlyDictionary<string, string[]> Headers { get; set; }
        public string IpAddress { get; set; }
        public IReadOnlyDictionary<string, string> MatchedParameters { get; set; }
        public string Method { get; set; }
        public IUrl OriginalUrl { get; set; }
        public IUrl Url { get; set; }
    }

    public sealed class Response : IResponse
    {
        public Response(int statusCode, string statusReason, Dictionary<string, string[]> headers, string body)
        {
            StatusCode = statusCode;
            StatusReason = statusReason;
            Headers = headers;
            Body = new MessageBody(body);
        }

        public IMessageBody Body { get; set; }
        public IReadOnlyDictionary<string, string[]> Headers { get; set; }
        public int StatusCode { get; set; }
        public string StatusReason { get; set; }
        public override string ToString() { return StatusCode + " " + StatusReason; }
    }

    public sealed class LastError : ILastError
    {
        public string Source { get; set; }
        public string Reason { get; set; }
        public string Message { get; set; }
        public string Scope { get; set; }
        public string Section { get; set; }
        public string Path { get; set; }
        public string PolicyId { get; set; }
    }

    public sealed class Deployment : IDeployment
    {
        public string GatewayId { get; set; }
        public string Region { get; set; }
        public string ServiceName { get; set; }
    }

    public sealed class Api : IApi
    {
        public Api() { Protocols = new[] { "https" }; IsCurrentRevision = true; Revision = "1"; }
        public string Id { get; set; }
        public string Name { get; set; }
        public string Path { get; set; }
        public IEnumerable<string> Protocols { get; set; }
        public IUrl ServiceUrl { get; set; }
        public string Revision { get; set; }
        public string Version { get; set; }
        public bool IsCurrentRevision { get; set; }
    }

    public sealed class Operation : IOperation
    {
        public string Id { get; set; }
        public string Method { get; set; }
        public string Name { get; set; }
        public string UrlTemplate { get; set; }
    }

    public sealed class ProxyRequestContext : IProxyRequestContext
    {
        readonly Dictionary<string, object> variables = new Dictionary<string, object>(StringComparer.Ordinal);
        readonly List<string> traces = new List<string>();
        readonly DateTime started = DateTime.UtcNow;

        public ProxyRequestContext(Request request, Guid requestId, DateTime timestamp)
        {
            Request = request;
            RequestId = requestId;
            Timestamp = timestamp;
        }

        public IApi Api { get; set; }
        public IDeployment Deployment { get; set; }
        public TimeSpan Elapsed { get { return DateTime.UtcNow - started; } }
        public ILastError LastError { get; set; }
        public IOperation Operation { get; set; }
        public IProduct Product { get { return null; } }
        public IRequest Request { get; set; }
        public Guid RequestId { get; private set; }
        public IResponse Response { get; set; }
        public ISubscription Subscription { get { return null; } }
        public DateTime Timestamp { get; private set; }
        public bool Tracing { get { return false; } }
        public IUser User { get { return null; } }
        public IReadOnlyDictionary<string, object> Variables { get { return variables; } }
        public void Trace(string message) { lock (traces) traces.Add(message); }

        // Writable views for the worker; expressions only get the read-only interface.
        public Dictionary<string, object> MutableVariables { get { return variables; } }
        public IList<string> Traces { get { return traces; } }
    }
}
