// Turns a unit (the expressions of one policy version) into one C# file, compiles it with
// the Mono C# compiler loaded in-process, and maps compiler errors back to expressions.
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using Aeg.Sandbox.Apim;

namespace Aeg.Sandbox.Worker
{
    sealed class Expression
    {
        public readonly string Id, Kind, Code;

        public Expression(string id, string kind, string code)
        {
            if (kind != "expr" && kind != "block") throw new FaultException("expression kind must be 'expr' or 'block', got '" + kind + "'");
            Id = id; Kind = kind; Code = code;
        }
    }

    sealed class Unit
    {
        public string Hash;
        public Dictionary<string, Func<IProxyRequestContext, object>> Methods;
    }

    sealed class CompileError
    {
        public string Id, Code, Message;
        public int? Line, Column;
    }

    sealed class UnitSource
    {
        // Bump when the generated shape changes, so cached assemblies are not reused.
        const string GeneratorVersion = "1";

        // What an APIM expression can name without qualification.
        static readonly string[] Usings =
        {
            "System", "System.Collections.Generic", "System.Linq", "System.Text", "System.Text.RegularExpressions",
            "System.Net", "System.Xml.Linq", "Newtonsoft.Json", "Newtonsoft.Json.Linq", "Aeg.Sandbox.Apim",
        };

        public string Hash, ClassName, Text;
        public List<Expression> Expressions;
        // Generated-file line ranges of each expression's method, for errors in the scaffolding.
        public List<KeyValuePair<int, int>> MethodLines;

        public static UnitSource Generate(List<Expression> expressions)
        {
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var e in expressions)
                if (!seen.Add(e.Id)) throw new FaultException("duplicate expression id '" + e.Id + "'");

            var hash = HashOf(GeneratorVersion + "\0" + string.Join("\0", expressions.Select(e => e.Id + "\0" + e.Kind + "\0" + e.Code)));
            var unit = new UnitSource
            {
                Hash = hash, ClassName = "U_" + hash, Expressions = expressions, MethodLines = new List<KeyValuePair<int, int>>(),
            };
            var lines = new List<string>();
            lines.AddRange(Usings.Select(u => "using " + u + ";"));
            lines.Add("namespace AegUnits {");
            lines.Add("public static class " + unit.ClassName + " {");
            for (var k = 0; k < expressions.Count; k++)
            {
                var start = lines.Count + 1;
                lines.Add("public static object E" + k + "(IProxyRequestContext context) {");
                // #line makes the compiler report positions relative to the expression's own text.
                if (expressions[k].Kind == "expr") lines.Add("return (");
                lines.Add("#line 1 \"e" + k + "\"");
                lines.AddRange(expressions[k].Code.Replace("\r\n", "\n").Split('\n'));
                lines.Add("#line default");
                if (expressions[k].Kind == "expr") lines.Add(");");
                lines.Add("}");
                unit.MethodLines.Add(new KeyValuePair<int, int>(start, lines.Count));
            }
            lines.Add("}");
            lines.Add("}");
            unit.Text = string.Join("\n", lines) + "\n";
            return unit;
        }

        static string HashOf(string text)
        {
            using (var sha = SHA256.Create())
            {
                var bytes = sha.ComputeHash(Encoding.UTF8.GetBytes(text));
                return string.Concat(bytes.Take(10).Select(b => b.ToString("x2", CultureInfo.InvariantCulture)));
            }
        }
    }

    sealed class CompileResult
    {
        public Unit Unit;
        public List<CompileError> Errors;
        public bool FromDisk;
        public long CompileMs;
    }

    sealed class Compiler
    {
        static readonly Regex Located = new Regex(@"^(?<file>.*)\((?<line>\d+),(?<col>\d+)\): error (?<code>CS\d+): (?<msg>.*)$");
        static readonly Regex Unlocated = new Regex(@"^(?:.*: )?error (?<code>CS\d+): (?<msg>.*)$");
        static readonly Regex ExpressionFile = new Regex(@"^e(?<k>\d+)$");
        static readonly Regex GeneratedMethod = new Regex(@"`?AegUnits\.U_[0-9a-f]+\.E\d+\([^)]*\)'?");

        readonly string unitsDir, contextDll, newtonsoftDll;
        readonly MethodInfo invokeCompiler;

        public Compiler(string buildDir, string mcsExe, string newtonsoftDll)
        {
            unitsDir = Path.Combine(buildDir, "units");
            Directory.CreateDirectory(unitsDir);
            contextDll = Path.Combine(buildDir, "Aeg.Sandbox.Apim.dll");
            this.newtonsoftDll = newtonsoftDll;
            // mcs.exe is a .NET assembly; calling its entry point in-process avoids starting a
            // second mono (and re-JITting the compiler) for every unit.
            var entry = Assembly.LoadFrom(mcsExe).GetType("Mono.CSharp.CompilerCallableEntryPoint", true);
            invokeCompiler = entry.GetMethod("InvokeCompiler", new[] { typeof(string[]), typeof(TextWriter) });
            if (invokeCompiler == null) throw new InvalidOperationException(mcsExe + " has no CompilerCallableEntryPoint.InvokeCompiler");
        }

        public CompileResult Compile(UnitSource source)
        {
            // Assemblies are cached on disk by content hash, so a restarted worker reloads them.
            var dll = Path.Combine(unitsDir, source.ClassName + ".dll");
            var result = new CompileResult { FromDisk = File.Exists(dll) };
            if (!result.FromDisk)
            {
                var watch = Stopwatch.StartNew();
                result.Errors = Build(source, dll);
                result.CompileMs = watch.ElapsedMilliseconds;
                if (result.Errors != null) return result;
            }
            result.Unit = Load(source, dll);
            return result;
        }

        List<CompileError> Build(UnitSource source, string dll)
        {
            // Compile in a private directory, then move into place: several sandboxes may share the cache.
            var work = Path.Combine(unitsDir, "tmp-" + Process.GetCurrentProcess().Id + "-" + Guid.NewGuid().ToString("N"));
            Directory.CreateDirectory(work);
            try
            {
                var file = Path.Combine(work, "unit.cs");
                File.WriteAllText(file, source.Text, new UTF8Encoding(false));
                var built = Path.Combine(work, source.ClassName + ".dll");
                var args = new[]
                {
                    "-target:library", "-out:" + built, "-warn:0", "-debug-", "-optimize+",
                    "-r:" + contextDll, "-r:" + newtonsoftDll,
                    "-r:System.dll", "-r:System.Core.dll", "-r:System.Xml.dll", "-r:System.Xml.Linq.dll",
                    file,
                };
                var log = new StringWriter();
                var ok = (bool)invokeCompiler.Invoke(null, new object[] { args, log });
                var errors = ParseErrors(log.ToString(), source);
                if (!ok || !File.Exists(built))
                {
                    if (errors.Count == 0) errors.Add(new CompileError { Message = log.ToString().Trim() });
                    return errors;
                }
                try { File.Move(built, dll); }
                catch (IOException) { if (!File.Exists(dll)) throw; }
                return null;
            }
            finally
            {
                try { Directory.Delete(work, true); } catch (IOException) { }
            }
        }

        static List<CompileError> ParseErrors(string log, UnitSource source)
        {
            var errors = new List<CompileError>();
            foreach (var raw in log.Split('\n'))
            {
                var line = raw.TrimEnd('\r');
                var m = Located.Match(line);
                if (m.Success)
                {
                    // Generated method names mean nothing to the policy author.
                    var err = new CompileError { Code = m.Groups["code"].Value, Message = GeneratedMethod.Replace(m.Groups["msg"].Value, "The expression") };
                    var lineNo = int.Parse(m.Groups["line"].Value, CultureInfo.InvariantCulture);
                    var colNo = int.Parse(m.Groups["col"].Value, CultureInfo.InvariantCulture);
                    // In-process, mcs reports #line file names resolved against the source directory.
                    var file = ExpressionFile.Match(Path.GetFileName(m.Groups["file"].Value));
                    if (file.Success)
                    {
                        err.Id = source.Expressions[int.Parse(file.Groups["k"].Value, CultureInfo.InvariantCulture)].Id;
                        err.Line = lineNo;
                        err.Column = colNo;
                    }
                    else
                    {
                        // In the generated scaffolding (say, a block that does not return on every
                        // path): blame the enclosing expression, at its start.
                        var k = source.MethodLines.FindIndex(r => lineNo >= r.Key && lineNo <= r.Value);
                        if (k >= 0) { err.Id = source.Expressions[k].Id; err.Line = 1; err.Column = 1; }
                    }
                    errors.Add(err);
                    continue;
                }
                var u = Unlocated.Match(line);
                if (u.Success) errors.Add(new CompileError { Code = u.Groups["code"].Value, Message = u.Groups["msg"].Value });
            }
            return errors;
        }

        static Unit Load(UnitSource source, string dll)
        {
            var type = Assembly.LoadFrom(dll).GetType("AegUnits." + source.ClassName, true);
            var methods = new Dictionary<string, Func<IProxyRequestContext, object>>(StringComparer.Ordinal);
            for (var k = 0; k < source.Expressions.Count; k++)
            {
                var method = type.GetMethod("E" + k, BindingFlags.Public | BindingFlags.Static);
                // A delegate, not MethodInfo.Invoke: exceptions surface unwrapped and calls are cheap.
                methods[source.Expressions[k].Id] = (Func<IProxyRequestContext, object>)Delegate.CreateDelegate(
                    typeof(Func<IProxyRequestContext, object>), method);
            }
            return new Unit { Hash = source.Hash, Methods = methods };
        }
    }
}
