using System.Diagnostics;
using System.Reflection;
using System.Text;

namespace NoLeaks.Reporting;

/// <summary>
/// The leaks of this test process, gathered from every checked test, and what is done with them when the process
/// exits: the console block, the <c>NOLEAKS_REPORT</c> file, GitHub Actions annotations and job summary. A run where
/// no test leaked costs one counter increment per test: no hook is registered and nothing is written.
/// </summary>
internal static class RunSummary
{
    /// <summary>Names the file (<c>.json</c>, <c>.md</c>) or folder the run's report is written to.</summary>
    public const string ReportVariable = "NOLEAKS_REPORT";

    private static readonly object Gate = new();
    private static readonly List<LeakEntry> Leaks = [];
    private static readonly Dictionary<(string Runner, string Why), int> Unchecked = [];
    private static readonly DateTimeOffset StartedAt = DateTimeOffset.UtcNow;
    private static int s_checked;
    private static string? s_assembly;
    private static bool s_hooked;

    /// <summary>Records the report of one checked test; prints the warn-mode line for it.</summary>
    public static void Add(LeakReport report, Assembly? testAssembly)
    {
        Interlocked.Increment(ref s_checked);
        if (report.IsClean)
        {
            return;
        }

        var entries = report.Leaks.Select(leak => ToEntry(leak, report)).ToList();
        Record(entries, testAssembly);
        if (report.Action == LeakAction.Warn && entries.Count > 0)
        {
            RealConsole.Error(ConsoleSummary.WarnedTest(report, entries[0]));
        }
    }

    /// <summary>
    /// Records the report of a fixture (<see cref="Sdk.LeakOwner"/>): work its tests handed to it, still pending after
    /// its cleanup. Each entry names the test that created the work and the fixture that held it; the fixture is not a
    /// checked test.
    /// </summary>
    public static void AddHeld(LeakReport report)
    {
        if (!report.IsClean)
        {
            Record(report.Leaks.Select(leak => ToEntry(leak, report) with { Test = leak.CreatedInTest ?? report.ScopeName, HeldBy = report.ScopeName }).ToList(), testAssembly: null);
        }
    }

    /// <summary>Records tests a runner of another library ran without a check (see <see cref="Sdk.LeakRun.AddUnchecked"/>).</summary>
    public static void AddUnchecked(int tests, string runner, string why, Assembly? testAssembly)
    {
        if (tests <= 0)
        {
            return;
        }

        lock (Gate)
        {
            s_assembly ??= testAssembly?.GetName().Name;
            Unchecked[(runner, why)] = Unchecked.GetValueOrDefault((runner, why)) + tests;
            HookLocked();
        }
    }

    private static void Record(List<LeakEntry> entries, Assembly? testAssembly)
    {
        lock (Gate)
        {
            s_assembly ??= testAssembly?.GetName().Name;
            Leaks.AddRange(entries);
            HookLocked();
        }
    }

    private static void HookLocked()
    {
        if (!s_hooked)
        {
            s_hooked = true;
            AppDomain.CurrentDomain.ProcessExit += (_, _) => Publish();
        }
    }

    /// <summary>The run so far (tests).</summary>
    internal static RunReport Snapshot()
    {
        lock (Gate)
        {
            var assembly = s_assembly ?? Assembly.GetEntryAssembly()?.GetName().Name ?? "(unknown)";
            return new RunReport
            {
                Runs = [new ProcessRun(assembly, Volatile.Read(ref s_checked), StartedAt.ToString("O"), Environment.ProcessId)
                {
                    Unchecked = Unchecked.Count == 0 ? null : [.. Unchecked.OrderBy(pair => pair.Key.Runner, StringComparer.Ordinal)
                        .Select(pair => new UncheckedTests(pair.Key.Runner, pair.Value, pair.Key.Why))],
                }],
                Leaks = [.. Leaks],
            };
        }
    }

    private static void Publish()
    {
        try
        {
            var report = Snapshot();
            var outputs = new RunOutputs(Environment.GetEnvironmentVariable, RealConsole.ErrorWriter, RealConsole.OutputWriter);
            outputs.Publish(report, inTestProcess: true);
        }
        catch (Exception e)
        {
            // The process is ending: a line on the console is all that can be done.
            RealConsole.Error($"NoLeaks warning: the run summary could not be written: {e.GetType().Name}: {e.Message}");
        }
    }

    internal static LeakEntry ToEntry(TaskLeak leak, LeakReport report) => new()
    {
        Test = report.ScopeName,
        Action = report.ShouldFail ? "fail" : "warn",
        Kind = leak.Kind.ToString(),
        Method = leak.Method,
        MethodFullName = leak.MethodFullName,
        File = leak.AwaitSite?.FilePath is { } path ? SourcePaths.Display(path) : null,
        Line = leak.AwaitSite?.Line ?? 0,
        WaitingOn = leak.WaitingOn,
        CreatedBy = leak.CreatedBy,
        HostedService = leak.HostedService,
        Count = leak.Count,
        Chain = leak.AwaitedBy.Select(frame => new ChainFrame(
            frame.Method,
            frame.AwaitSite?.FilePath is { } file ? SourcePaths.Display(file) : null,
            frame.AwaitSite?.Line ?? 0,
            frame.IsContinuation)).ToList(),
    };
}

/// <summary>
/// Where a run's report goes, read from the environment: the console block, <c>NOLEAKS_REPORT</c>, and under GitHub
/// Actions the annotations and the job summary. Shared by test processes and the <c>noleaks merge</c> command.
/// </summary>
internal sealed class RunOutputs(Func<string, string?> environment, TextWriter console, TextWriter commands)
{
    /// <summary>
    /// Writes what the environment asks for. A test process whose <c>NOLEAKS_REPORT</c> names a folder leaves the
    /// annotations and the job summary to the merge command, which sees every process's leaks at once.
    /// </summary>
    public void Publish(RunReport report, bool inTestProcess)
    {
        if (report.Leaks.Count == 0)
        {
            // Nothing leaked, but tests went unchecked: said on the console, nothing else to write.
            console.Write(ConsoleSummary.UncheckedLines(report));
            console.Flush();
            return;
        }

        console.Write(ConsoleSummary.Format(report));
        console.Flush();
        var target = environment(RunSummary.ReportVariable);
        var toFolder = false;
        if (inTestProcess && !string.IsNullOrWhiteSpace(target))
        {
            toFolder = WriteReport(report, target);
        }

        if (environment("GITHUB_ACTIONS") == "true" && !(inTestProcess && toFolder))
        {
            if (inTestProcess)
            {
                // `dotnet test` (Microsoft.Testing.Platform) prints a failed test process's output after a
                // "Standard output:" label on the same line: the commands start on the next one.
                commands.WriteLine("NoLeaks: GitHub Actions annotations");
            }

            foreach (var line in GitHubAnnotations.Lines(report))
            {
                commands.WriteLine(line);
            }

            commands.Flush();
            if (environment("GITHUB_STEP_SUMMARY") is { Length: > 0 } summary)
            {
                AppendShared(summary, MarkdownReport.Format(report));
            }
        }
    }

    /// <summary>Writes the report to a <c>.json</c> or <c>.md</c> file, or into a folder; true for a folder.</summary>
    public static bool WriteReport(RunReport report, string target)
    {
        var extension = Path.GetExtension(target).ToLowerInvariant();
        if (extension is ".json" or ".md" && !Directory.Exists(target))
        {
            if (Path.GetDirectoryName(Path.GetFullPath(target)) is { } parent)
            {
                Directory.CreateDirectory(parent);
            }

            File.WriteAllText(target, extension == ".md" ? MarkdownReport.Format(report) : JsonReport.Format(report));
            return false;
        }

        // A folder: one file per process, never the same name twice (shards, several test assemblies, retries).
        Directory.CreateDirectory(target);
        var run = report.Runs.FirstOrDefault();
        var name = $"noleaks-{run?.Assembly ?? "run"}-{Environment.ProcessId}-{Guid.NewGuid():N}.json";
        File.WriteAllText(Path.Combine(target, name), JsonReport.Format(report));
        return true;
    }

    // Test processes of one job step can end at the same time: the job summary file is appended under an exclusive
    // handle, retried while another process holds it.
    private static void AppendShared(string path, string text)
    {
        var bytes = new UTF8Encoding(false).GetBytes(text + Environment.NewLine);
        var clock = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                using var file = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.None);
                file.Write(bytes);
                return;
            }
            catch (IOException) when (clock.Elapsed < TimeSpan.FromSeconds(10))
            {
                Thread.Sleep(20);
            }
        }
    }
}

/// <summary>
/// The process's own standard streams, not <see cref="Console.Out"/> or <see cref="Console.Error"/>, which test
/// frameworks redirect to the running test's output.
/// </summary>
internal static class RealConsole
{
    private static readonly Lazy<TextWriter> LazyError = new(() => Open(Console.OpenStandardError()));
    private static readonly Lazy<TextWriter> LazyOutput = new(() => Open(Console.OpenStandardOutput()));

    public static TextWriter ErrorWriter => LazyError.Value;

    public static TextWriter OutputWriter => LazyOutput.Value;

    /// <summary>Writes a line to the process's standard error; never throws.</summary>
    public static void Error(string line)
    {
        try
        {
            ErrorWriter.WriteLine(line);
        }
        catch (Exception)
        {
            // No console (a closed stream): the test's output and the report file still have it.
        }
    }

    private static TextWriter Open(Stream stream) =>
        TextWriter.Synchronized(new StreamWriter(stream, new UTF8Encoding(false)) { AutoFlush = true });
}
