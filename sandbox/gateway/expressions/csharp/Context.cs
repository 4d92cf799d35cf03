// The policy-expression context model: the types an APIM expression sees as `context`.
// Names and shapes follow the documented APIM policy-expression reference; the classes behind
// the interfaces are mutable so the sandbox worker can fill them in as the pipeline runs.
using System;
using System.Collections.Generic;
using System.Linq;

namespace Aeg.Sandbox.Apim
{
    public interface IProxyRequestContext
    {
        IApi Api { get; }
        IDeployment Deployment { get; }
        TimeSpan Elapsed { get; }
        ILastError LastError { get; }
        IOperation Operation { get; }
        IProduct Product { get; }
        IRequest Request { get; }
        Guid RequestId { get; }
        IResponse Response { get; }
        ISubscription Subscription { get; }
        DateTime Timestamp { get; }
        bool Tracing { get; }
        IUser User { get; }
        IReadOnlyDictionary<string, object> Variables { get; }
        void Trace(string message);
    }

    public interface IRequest
    {
        IMessageBody Body { get; }
        IReadOnlyDictionary<string, string[]> Headers { get; }
        string IpAddress { get; }
        IReadOnlyDictionary<string, string> MatchedParameters { get; }
        string Method { get; }
        IUrl OriginalUrl { get; }
        IUrl Url { get; }
    }

    public interface IResponse
    {
        IMessageBody Body { get; }
        IReadOnlyDictionary<string, string[]> Headers { get; }
        int StatusCode { get; }
        string StatusReason { get; }
    }

    public interface IUrl
    {
        string Host { get; }
        string Path { get; }
        int Port { get; }
        IReadOnlyDictionary<string, string[]> Query { get; }
        string QueryString { get; }
        string Scheme { get; }
    }

    public interface ILastError
    {
        string Source { get; }
        string Reason { get; }
        string Message { get; }
        string Scope { get; }
        string Section { get; }
        string Path { get; }
        string PolicyId { get; }
    }

    public interface IDeployment
    {
        string GatewayId { get; }
        string Region { get; }
        string ServiceName { get; }
    }

    public interface IApi
    {
        string Id { get; }
        string Name { get; }
        string Path { get; }
        IEnumerable<string> Protocols { get; }
        IUrl ServiceUrl { get; }
        string Revision { get; }
        string Version { get; }
        bool IsCurrentRevision { get; }
    }

    public interface IOperation
    {
        string Id { get; }
        string Method { get; }
        string Name { get; }
        string UrlTemplate { get; }
    }

    // The sandbox has no products, subscriptions or users; these exist so that expressions
    // mentioning them compile, and they read as null at run time.
    public interface IProduct { string Id { get; } string Name { get; } }
    public interface ISubscription { string Id { get; } string Key { get; } string Name { get; } }
    public interface IUser { string Id { get; } string Email { get; } }

    /// <summary>Extension methods APIM documents on the dictionaries expressions see.</summary>
    public static class ContextExtensions
    {
        // Header, query and claim lookups join repeated values with commas, as APIM does.
        public static string GetValueOrDefault(this IReadOnlyDictionary<string, string[]> values, string name, string defaultValue = null)
        {
            string[] found;
            if (values == null || name == null || !values.TryGetValue(name, out found) || found == null)
                return defaultValue;
            return string.Join(",", found);
        }

        public static string GetValueOrDefault(this IReadOnlyDictionary<string, string> values, string name, string defaultValue = null)
        {
            string found;
            return values != null && name != null && values.TryGetValue(name, out found) ? found : defaultValue;
        }

        // A present variable of another type is an error, not the default: APIM casts, and a
        // wrong cast is an ExpressionValueEvaluationFailure there too.
        public static T GetValueOrDefault<T>(this IReadOnlyDictionary<string, object> variables, string name, T defaultValue = default(T))
        {
            object value;
            if (variables == null || name == null || !variables.TryGetValue(name, out value))
                return defaultValue;
            if (value is T)
                return (T)value;
            if (value == null && default(T) == null)
                return default(T);
            throw new InvalidCastException(string.Format(
                "Variable '{0}' holds a value of type {1}, which cannot be cast to {2}.",
                name, value == null ? "null" : value.GetType().FullName, typeof(T).FullName));
        }

        public static object GetValueOrDefault(this IReadOnlyDictionary<string, object> variables, string name)
        {
            object value;
            return variables != null && name != null && variables.TryGetValue(name, out value) ? value : null;
        }
    }
}
