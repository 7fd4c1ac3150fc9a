using System.Diagnostics;
using System.Globalization;

namespace NoLeaks.Tests.Fuzz;

/// <summary>
/// The fuzz and stress runs load every core and the thread pool on purpose: alone, so that they neither slow the
/// timing of other tests nor are slowed by them.
/// </summary>
[CollectionDefinition(nameof(Reliability), DisableParallelization = true)]
public sealed class Reliability;

/// <summary>
/// Property-based test of the whole check: random task graphs in a scope (see <see cref="FuzzCase"/>), judged by
/// <see cref="FuzzRunner"/>. Reproducible: case i of a run with seed S is the case with seed S + i, so a failing case
/// runs alone with <c>NOLEAKS_FUZZ_SEED=&lt;case seed&gt; NOLEAKS_FUZZ_CASES=1</c>. docs/reliability.md has the commands.
/// </summary>
[Collection(nameof(Reliability))]
public class AnalysisFuzzTests
{
    /// <summary>The seed of the run; a random one when unset (printed either way).</summary>
    public const string SeedVariable = "NOLEAKS_FUZZ_SEED";

    /// <summary>How many cases to run (default <see cref="DefaultCases"/>).</summary>
    public const string CasesVariable = "NOLEAKS_FUZZ_CASES";

    /// <summary>Stops starting new cases after this many seconds (default <see cref="DefaultSeconds"/>).</summary>
    public const string SecondsVariable = "NOLEAKS_FUZZ_SECONDS";

    /// <summary>The seed of every CI run (CI=true): the same 2,000 cases gate each change.</summary>
    public const int CiSeed = 20_261_201;

    private const int DefaultCases = 2000;
    private const int DefaultSeconds = 20;
    private const int Parallelism = 8;

    [Fact(Timeout = 600_000)]
    public async Task Random_task_graphs_are_reported_exactly_as_left_pending()
    {
        // CI gates a change on the same cases every time (reproducible); elsewhere each run explores new ones.
        var seed = Read(SeedVariable) ?? (Environment.GetEnvironmentVariable("CI") is "true" or "1" ? CiSeed : Random.Shared.Next(1, int.MaxValue / 2));
        var cases = Read(CasesVariable) ?? DefaultCases;
        var budget = TimeSpan.FromSeconds(Read(SecondsVariable) ?? DefaultSeconds);
        var output = TestContext.Current.TestOutputHelper!;
        output.WriteLine($"{SeedVariable}={seed} {CasesVariable}={cases} {SecondsVariable}={budget.TotalSeconds}");

        // Blocked delegates of the cases in flight hold pool threads during their grace period.
        ThreadPool.GetMinThreads(out var workers, out var io);
        ThreadPool.SetMinThreads(Math.Max(workers, 4 * Parallelism), io);

        var clock = Stopwatch.StartNew();
        var next = -1;
        var run = 0;
        var failures = new System.Collections.Concurrent.ConcurrentQueue<string>();
        async Task Worker()
        {
            int index;
            while ((index = Interlocked.Increment(ref next)) < cases && clock.Elapsed < budget && failures.Count < 5)
            {
                var fuzzCase = FuzzCase.Generate(unchecked(seed + index));
                string? failure;
                try
                {
                    failure = await FuzzRunner.RunAsync(fuzzCase);
                }
                catch (Exception e)
                {
                    failure = $"{fuzzCase}\n  ✗ the harness threw {e}";
                }

                if (failure is not null)
                {
                    failures.Enqueue(failure);
                }

                Interlocked.Increment(ref run);
            }
        }

        await Task.WhenAll(Enumerable.Range(0, Parallelism).Select(_ => Task.Run(Worker)));

        output.WriteLine($"{run} cases in {clock.Elapsed.TotalSeconds:0.0} s, {failures.Count} failed");
        Assert.True(run > 0, "no case ran");
        Assert.True(failures.IsEmpty, $"{failures.Count} of {run} cases failed (run: {SeedVariable}={seed}); "
            + $"rerun one alone with {SeedVariable}=<case seed> {CasesVariable}=1\n\n{string.Join("\n", failures)}");
    }

    private static int? Read(string variable) =>
        int.TryParse(Environment.GetEnvironmentVariable(variable), NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) ? value : null;
}
