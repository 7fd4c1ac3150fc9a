using System.Diagnostics;
using System.Runtime.CompilerServices;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Engines;

namespace NoLeaks.Benchmarks;

/// <summary>
/// Wall time of a whole xunit run of 2,000 generated clean tests (tests/Fixtures/XunitV*Overhead, source from
/// build/generate-overhead-tests.sh), with the adapter's hook registered but no attribute, and with
/// <c>[assembly: NoTaskLeaks]</c>. One operation = one fixture process, start to exit.
/// dotnet run -c Release --project tests/NoLeaks.Benchmarks -- --filter '*XunitAdapterOverhead*'
/// </summary>
[SimpleJob(RunStrategy.Monitoring, launchCount: 1, warmupCount: 1, iterationCount: 7)]
[MedianColumn]
public class XunitAdapterOverheadBenchmarks
{
    private string _fixture = "";

    [Params("XunitV2Overhead", "XunitV3Overhead")]
    public string Xunit { get; set; } = "";

    [Params("Registered", "Checked")]
    public string Variant { get; set; } = "";

    [GlobalSetup]
    public void BuildFixture()
    {
        var output = Path.Combine(RepositoryRoot(), "artifacts", "overhead", $"{Xunit}-{Variant}");
        Run("dotnet", "build", Path.Combine(RepositoryRoot(), "tests", "Fixtures", Xunit), "-c", "Release", "-nologo", "-v:q",
            $"-p:NoLeaksOverheadVariant={Variant}", "-o", output);
        _fixture = Path.Combine(output, Xunit + ".dll");
    }

    [Benchmark]
    public void RunAllTests()
    {
        var results = Path.Combine(Path.GetTempPath(), $"noleaks-overhead-{Guid.NewGuid():N}");
        if (Xunit.StartsWith("XunitV3", StringComparison.Ordinal))
        {
            Run("dotnet", "exec", _fixture, "-noLogo", "-noColor", "-noAutoReporters", "-reporter", "quiet", "-result-xml", results);
        }
        else
        {
            Run("dotnet", "exec", _fixture, "--json", results);
        }

        File.Delete(results);
    }

    private static void Run(string file, params string[] arguments)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        start.Environment.Remove("NOLEAKS_ACTION");
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{file} {string.Join(' ', arguments)} exited {process.ExitCode}\n{stdout.Result}\n{stderr.Result}");
        }
    }

    private static string RepositoryRoot([CallerFilePath] string here = "") =>
        Path.GetFullPath(Path.Combine(Path.GetDirectoryName(here)!, "..", ".."));
}
