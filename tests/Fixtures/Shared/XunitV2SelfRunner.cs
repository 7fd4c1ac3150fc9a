using System.Reflection;
using System.Text.Json;
using Xunit.Abstractions;
using Xunit.Sdk;

namespace NoLeaks.Fixtures;

/// <summary>
/// Runs the xunit v2 tests of an assembly in-process through xunit.execution's public API (which honours
/// <c>[assembly: TestFramework]</c>-style attributes) and writes one JSON result file: xunit.runner.utility is not
/// needed. Usage: <c>&lt;fixture&gt; --json &lt;file&gt; [--method Namespace.Class.Method]</c>; the exit code is 1 when a
/// test failed.
/// </summary>
public static class XunitV2SelfRunner
{
    public sealed record TestResult(string Name, string Outcome, string? Message, string Output, string? StackTrace = null);

    public static int Run(Assembly assembly, string[] args)
    {
        var jsonPath = args.SkipWhile(arg => arg != "--json").Skip(1).FirstOrDefault();
        var method = args.SkipWhile(arg => arg != "--method").Skip(1).FirstOrDefault();
        var results = new List<TestResult>();
        var errors = new List<string>();
        using var finished = new ManualResetEventSlim();
        var sink = new Sink(message =>
        {
            var result = message switch
            {
                ITestPassed passed => new TestResult(passed.Test.DisplayName, "Passed", null, passed.Output),
                ITestFailed failed => new TestResult(failed.Test.DisplayName, "Failed", string.Join(Environment.NewLine + "---- ", failed.Messages), failed.Output, string.Join(Environment.NewLine, failed.StackTraces)),
                ITestSkipped skipped => new TestResult(skipped.Test.DisplayName, "Skipped", skipped.Reason, skipped.Output),
                _ => null,
            };
            lock (results)
            {
                if (result is not null)
                {
                    results.Add(result);
                }
                else if (message is IFailureInformation failure)
                {
                    errors.Add(message.GetType().Name + ": " + string.Join(" / ", failure.Messages));
                }
            }

            if (message is ITestAssemblyFinished)
            {
                finished.Set();
            }

            return true;
        });

        using (var framework = new TestFrameworkProxy(Reflector.Wrap(assembly), new NoSourceInformation(), new Sink(_ => true)))
        using (var executor = framework.GetExecutor(assembly.GetName()))
        {
            var options = new Options();
            if (method is null)
            {
                executor.RunAll(sink, options, options);
            }
            else
            {
                executor.RunTests(Discover(framework, assembly, options).Where(test => $"{test.TestMethod.TestClass.Class.Name}.{test.TestMethod.Method.Name}" == method), sink, options);
            }

            finished.Wait();
        }

        var failed = results.Count(result => result.Outcome == "Failed");
        Console.WriteLine($"{results.Count - failed} passed or skipped, {failed} failed, {errors.Count} errors");
        if (jsonPath is not null)
        {
            File.WriteAllText(jsonPath, JsonSerializer.Serialize(new { tests = results, errors }));
        }

        return failed > 0 || errors.Count > 0 ? 1 : 0;
    }

    private static List<ITestCase> Discover(TestFrameworkProxy framework, Assembly assembly, Options options)
    {
        var found = new List<ITestCase>();
        using var complete = new ManualResetEventSlim();
        var sink = new Sink(message =>
        {
            if (message is ITestCaseDiscoveryMessage discovered)
            {
                lock (found)
                {
                    found.Add(discovered.TestCase);
                }
            }
            else if (message is IDiscoveryCompleteMessage)
            {
                complete.Set();
            }

            return true;
        });
        using var discoverer = framework.GetDiscoverer(Reflector.Wrap(assembly));
        discoverer.Find(includeSourceInformation: false, sink, options);
        complete.Wait();
        return found;
    }

    // Sinks cross xunit's (former) app-domain boundary, hence LongLivedMarshalByRefObject (analyzer xUnit3000).
    private sealed class Sink(Func<IMessageSinkMessage, bool> onMessage) : global::Xunit.LongLivedMarshalByRefObject, IMessageSink
    {
        public bool OnMessage(IMessageSinkMessage message) => onMessage(message);
    }

    private sealed class NoSourceInformation : global::Xunit.LongLivedMarshalByRefObject, ISourceInformationProvider
    {
        public ISourceInformation? GetSourceInformation(ITestCase testCase) => null;

        public void Dispose()
        {
        }
    }

    private sealed class Options : ITestFrameworkDiscoveryOptions, ITestFrameworkExecutionOptions
    {
        private readonly Dictionary<string, object?> _values = [];

        public TValue GetValue<TValue>(string name) => _values.TryGetValue(name, out var value) && value is TValue typed ? typed : default!;

        public void SetValue<TValue>(string name, TValue value) => _values[name] = value;
    }
}
