// The expression worker: one long-lived mono process that compiles policy-expression units
// with the Mono C# compiler (loaded in-process from mcs.exe) and evaluates them against
// request contexts it holds. It speaks JSON lines on stdin/stdout: {seq, op, ...} in,
// {seq, ok, ...} or {seq, fault} out. Messages are handled one at a time, in order, so a
// caller may pipeline calls for one context without awaiting each.
using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using Aeg.Sandbox.Apim;
using Aeg.Sandbox.Apim.Runtime;
using Newtonsoft.Json;
using Newtonsoft.Json.Linq;

namespace Aeg.Sandbox.Worker
{
    /// <summary>A protocol error: the caller sent something the worker cannot act on.</summary>
    sealed class FaultException : Exception
    {
        public FaultException(string message) : base(message) { }
    }

    static class Program
    {
        static TextWriter output;
        static Compiler compiler;
        static readonly Dictionary<string, Unit> units = new Dictionary<string, Unit>(StringComparer.Ordinal);
        static readonly Dictionary<string, ProxyRequestContext> contexts = new Dictionary<string, ProxyRequestContext>(StringComparer.Ordinal);
        static long nextContext;

        // args: <build dir holding Aeg.Sandbox.Apim.dll> <path of mcs.exe> <path of Newtonsoft.Json.dll>
        static int Main(string[] args)
        {
            if (args.Length != 3)
            {
                Console.Error.WriteLine("usage: worker.exe <buildDir> <mcs.exe> <Newtonsoft.Json.dll>");
                return 2;
            }
            // Expressions could write to Console; keep the real stdout for protocol lines only.
            output = new StreamWriter(Console.OpenStandardOutput(), new UTF8Encoding(false)) { AutoFlush = true };
            Console.SetOut(Console.Error);
            compiler = new Compiler(args[0], args[1], args[2]);

            var input = new StreamReader(Console.OpenStandardInput(), new UTF8Encoding(false));
            string line;
            while ((line = input.ReadLine()) != null)
            {
                if (line.Trim().Length == 0) continue;
                JToken seq = null;
                JObject reply;
                try
                {
                    var message = Json.Parse(line) as JObject;
                    if (message == null) throw new FaultException("a message must be a JSON object");
                    seq = message["seq"];
                    reply = Handle(message);
                }
                catch (FaultException e) { reply = new JObject { ["fault"] = e.Message }; }
                catch (Exception e) { reply = new JObject { ["fault"] = e.GetType().Name + ": " + e.Message }; }
                reply["seq"] = seq;
                output.WriteLine(reply.ToString(Formatting.None));
            }
            return 0;
        }

        static JObject Handle(JObject m)
        {
            var op = Json.Str(m, "op");
            switch (op)
            {
                case "ping":
                    return Ok(new JObject { ["pid"] = System.Diagnostics.Process.GetCurrentProcess().Id });
                case "compile":
                    return Compile(m);
                case "eval":
                    return Eval(m);
                case "context.new":
                    return NewContext(m);
                case "context.request":
                    Messages.UpdateRequest((Request)Context(m).Request, Json.Obj(m, "request"));
                    return Ok();
                case "context.set":
                    Context(m).MutableVariables[Json.Str(m, "name")] = Values.From(Json.Obj(m, "value"));
                    return Ok();
                case "context.lastError":
                    Context(m).LastError = Messages.LastErrorFrom(m);
                    return Ok();
                case "context.response":
                    var r = m["response"] as JObject;
                    Context(m).Response = r == null ? null : Messages.ResponseFrom(r);
                    return Ok();
                case "context.variables":
                    return Variables(Context(m));
                case "context.dispose":
                    contexts.Remove(Json.Str(m, "context"));
                    return Ok();
                default:
                    throw new FaultException("unknown op '" + op + "'");
            }
        }

        static JObject Ok(JObject extra = null)
        {
            var reply = extra ?? new JObject();
            reply["ok"] = true;
            return reply;
        }

        static JObject Compile(JObject m)
        {
            var unitName = Json.Str(m, "unit");
            var expressions = (m["expressions"] as JArray ?? new JArray())
                .Select(e => new Expression(Json.Str((JObject)e, "id"), Json.Str((JObject)e, "kind"), Json.Str((JObject)e, "code")))
                .ToList();
            var source = UnitSource.Generate(expressions);

            Unit existing;
            if (units.TryGetValue(unitName, out existing) && existing.Hash == source.Hash)
                return Ok(new JObject { ["cached"] = "memory" });

            var result = compiler.Compile(source);
            if (result.Errors != null)
            {
                var errors = new JArray(result.Errors.Select(err => new JObject
                {
                    ["id"] = err.Id, ["line"] = err.Line, ["column"] = err.Column, ["code"] = err.Code, ["message"] = err.Message,
                }));
                return new JObject { ["ok"] = false, ["errors"] = errors };
            }
            units[unitName] = result.Unit;
            return Ok(new JObject { ["cached"] = result.FromDisk ? "disk" : "none", ["compileMs"] = result.CompileMs });
        }

        static JObject Eval(JObject m)
        {
            var context = Context(m);
            Unit unit;
            if (!units.TryGetValue(Json.Str(m, "unit"), out unit))
                throw new FaultException("unit '" + Json.Str(m, "unit") + "' is not compiled");
            var exprId = Json.Str(m, "expr");
            Func<IProxyRequestContext, object> method;
            if (!unit.Methods.TryGetValue(exprId, out method))
                throw new FaultException("unit '" + Json.Str(m, "unit") + "' has no expression '" + exprId + "'");

            object value;
            try
            {
                value = method(context);
            }
            catch (Exception e)
            {
                // An exception inside the expression is a result, not a fault: the gateway routes
                // it to on-error as ExpressionValueEvaluationFailure.
                return new JObject
                {
                    ["ok"] = false,
                    ["error"] = new JObject { ["type"] = e.GetType().FullName, ["message"] = e.Message },
                };
            }
            // set-variable keeps the typed value in the worker instead of a JSON copy.
            var assign = m["assign"];
            if (assign != null && assign.Type == JTokenType.String)
                context.MutableVariables[(string)assign] = value;
            return Ok(Values.Describe(value));
        }

        static JObject NewContext(JObject m)
        {
            var id = m["context"] != null && m["context"].Type == JTokenType.String
                ? (string)m["context"]
                : "w" + (++nextContext).ToString(CultureInfo.InvariantCulture);
            if (contexts.ContainsKey(id)) throw new FaultException("context '" + id + "' already exists");
            contexts[id] = Messages.ContextFrom(m);
            return Ok(new JObject { ["context"] = id });
        }

        static JObject Variables(ProxyRequestContext context)
        {
            var vars = new JObject();
            foreach (var kv in context.MutableVariables)
                vars[kv.Key] = Values.Describe(kv.Value);
            return Ok(new JObject { ["variables"] = vars, ["traces"] = new JArray(context.Traces.ToArray()) });
        }

        static ProxyRequestContext Context(JObject m)
        {
            var id = Json.Str(m, "context");
            ProxyRequestContext context;
            if (!contexts.TryGetValue(id, out context)) throw new FaultException("unknown context '" + id + "'");
            return context;
        }
    }

    /// <summary>Small helpers for reading messages.</summary>
    static class Json
    {
        // Dates stay strings: the protocol decides what is a DateTime, not the parser.
        public static JToken Parse(string text)
        {
            var reader = new JsonTextReader(new StringReader(text)) { DateParseHandling = DateParseHandling.None };
            return JToken.ReadFrom(reader);
        }

        public static string Str(JObject o, string name)
        {
            var t = o[name];
            if (t == null || t.Type != JTokenType.String) throw new FaultException("'" + name + "' must be a string");
            return (string)t;
        }

        public static string OptStr(JObject o, string name)
        {
            var t = o == null ? null : o[name];
            return t == null || t.Type == JTokenType.Null ? null : (string)t;
        }

        public static JObject Obj(JObject o, string name)
        {
            var t = o[name] as JObject;
            if (t == null) throw new FaultException("'" + name + "' must be an object");
            return t;
        }
    }
}
