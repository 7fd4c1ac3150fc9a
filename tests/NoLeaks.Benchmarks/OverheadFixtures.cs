using System.Diagnostics;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace NoLeaks.Benchmarks;

/// <summary>
/// The generated 2,000-test suites the adapter overhead is measured on: how to build them and run one, start to exit.
/// Shared by the BenchmarkDotNet classes and the interleaved runs (<see cref="InterleavedOverhead"/>).
/// </summary>
internal static class OverheadFixtures
{
    /// <summary>Builds an xunit overhead suite (XunitV2Overhead or XunitV3Overhead) in a variant; returns its dll.</summary>
    public static string BuildXunit(string fixture, string variant)
    {
        var output = Path.Combine(RepositoryRoot(), "artifacts", "overhead", $"{fixture}-{variant}");
        Run(new ProcessStartInfo("dotnet")
        {
            ArgumentList =
            {
                "build", Path.Combine(RepositoryRoot(), "tests", "Fixtures", fixture), "-c", "Release", "-nologo", "-v:q",
                $"-p:NoLeaksOverheadVariant={variant}", "-o", output,
            },
        });
        return Path.Combine(output, fixture + ".dll");
    }

    /// <summary>An NUnit overhead suite, built with this project (see its FixtureProgram items).</summary>
    public static string NUnit(string fixture) =>
        typeof(OverheadFixtures).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
            .Single(attribute => attribute.Key == "Fixture:" + fixture).Value!;

    /// <summary>Runs a suite once, quietly; returns its wall time and the CPU time it used.</summary>
    public static (TimeSpan Wall, TimeSpan Cpu) RunSuite(string dll, string? action = null)
    {
        var start = new ProcessStartInfo("dotnet") { ArgumentList = { "exec", dll } };
        var results = Path.Combine(Path.GetTempPath(), $"noleaks-overhead-{Guid.NewGuid():N}");
        if (dll.EndsWith("XunitV3Overhead.dll", StringComparison.Ordinal))
        {
            foreach (var argument in new[] { "-noLogo", "-noColor", "-noAutoReporters", "-reporter", "quiet", "-result-xml", results })
            {
                start.ArgumentList.Add(argument);
            }
        }
        else if (dll.EndsWith("XunitV2Overhead.dll", StringComparison.Ordinal))
        {
            start.ArgumentList.Add("--json");
            start.ArgumentList.Add(results);
        }

        start.Environment.Remove(NoLeaksOptions.ActionEnvironmentVariable);
        if (action is not null)
        {
            start.Environment[NoLeaksOptions.ActionEnvironmentVariable] = action;
        }

        try
        {
            return Run(start);
        }
        finally
        {
            File.Delete(results);
        }
    }

    private static (TimeSpan Wall, TimeSpan Cpu) Run(ProcessStartInfo start)
    {
        start.RedirectStandardOutput = true;
        start.RedirectStandardError = true;
        start.UseShellExecute = false;
        var cpuBefore = ChildrenCpu();
        var clock = Stopwatch.StartNew();
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        process.WaitForExit();
        var wall = clock.Elapsed;
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException(
                $"{start.FileName} {string.Join(' ', start.ArgumentList)} exited {process.ExitCode}\n{stdout.Result}\n{stderr.Result}");
        }

        return (wall, ChildrenCpu() - cpuBefore);
    }

    // The CPU time of the waited-for children (Linux, macOS: getrusage(RUSAGE_CHILDREN)); the child has been reaped
    // when WaitForExit returns, so the difference around one run is that run's. Zero elsewhere.
    private static TimeSpan ChildrenCpu()
    {
        if (OperatingSystem.IsWindows())
        {
            return TimeSpan.Zero;
        }

        var usage = new long[18]; // struct rusage: ru_utime and ru_stime (two timevals), then 14 longs
        if (GetResourceUsage(-1, usage) != 0)
        {
            return TimeSpan.Zero;
        }

        var microseconds = (usage[0] * 1_000_000) + usage[1] + (usage[2] * 1_000_000) + usage[3];
        return TimeSpan.FromMicroseconds(microseconds);
    }

    [DllImport("libc", EntryPoint = "getrusage")]
    private static extern int GetResourceUsage(int who, [Out] long[] usage);

    private static string RepositoryRoot([CallerFilePath] string here = "") =>
        Path.GetFullPath(Path.Combine(Path.GetDirectoryName(here)!, "..", ".."));
}
